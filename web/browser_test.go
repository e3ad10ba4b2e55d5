package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nslab/nslab/gen"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
	"github.com/nslab/nslab/web"
)

// routersLab is two routers, three hosts on two bridges, and a service on
// h1 that sends UDP to h3 across both routers, so that the page has
// traffic to show. Every address is in the test's own subnet S.0/24.
func routersLab(name, s string) string {
	return fmt.Sprintf(`name: %[1]s
bridges: {lan1: {}, lan2: {}}
nodes:
  r1:
    router: true
    interfaces:
      lan: {link: lan1, addresses: [%[2]s.1/26]}
      core: {link: r2:core, addresses: [%[2]s.193/30]}
    routes: [{to: %[2]s.64/26, via: %[2]s.194}]
  r2:
    router: true
    interfaces:
      core: {link: r1:core, addresses: [%[2]s.194/30]}
      lan: {link: lan2, addresses: [%[2]s.65/26]}
    routes: [{to: %[2]s.0/26, via: %[2]s.193}]
  h1:
    interfaces: {eth0: {link: lan1, addresses: [%[2]s.2/26]}}
    routes: [{to: %[2]s.0/24, via: %[2]s.1}]
    services:
      udp:
        command: [bash, -c, "exec 3>/dev/udp/%[2]s.66/9; while :; do head -c 40000 /dev/zero >&3; sleep 0.1; done"]
  h2:
    interfaces: {eth0: {link: lan1, addresses: [%[2]s.3/26]}}
    routes: [{to: %[2]s.0/24, via: %[2]s.1}]
  h3:
    interfaces: {eth0: {link: lan2, addresses: [%[2]s.66/26]}}
    routes: [{to: %[2]s.0/24, via: %[2]s.65}]
`, name, s)
}

// upLab brings a lab up from its file and takes it down at the end.
func upLab(t *testing.T, name, yaml string) {
	t.Helper()
	nslabtest.CheckLeaksAtEnd(t, name)
	tl, err := topology.Parse(name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	if err := lab.Up(context.Background(), tl, nil, lab.Options{}); err != nil {
		t.Fatalf("up: %v", err)
	}
}

// serve starts nslab web's server on a loopback port, until the test ends.
func serve(t *testing.T) (base string, s *web.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err = web.New(ln.Addr().String(), web.Config{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { cancel(); srv.Close() })
	return "http://" + ln.Addr().String(), s
}

// artifacts is where the browser test keeps its screenshots: $NSLAB_ARTIFACTS
// or a directory under the system's temporary one, printed by the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("NSLAB_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "nslab-web-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts Debian's headless Chromium, or skips saying why.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium on PATH (apt-get install chromium): the browser test needs Debian's headless Chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1400, 850),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first Run starts the browser, which lives as long as its
	// context: no timeout on that one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// One browser, several checks: the page shows the lab's nodes; a cable
// cut as nslab link down cuts it turns red within 2 s; a click on a node
// shows its addresses; a click on a cable and on its button joins it
// again; the page's token lives in the tab, not in its address, and a
// request without it is refused.
func TestBrowser(t *testing.T) {
	nslabtest.RequireRoot(t)
	ctx := browser(t)
	name := nslabtest.Name("web")
	s := nslabtest.Subnet(t)
	upLab(t, name, routersLab(name, s))
	base, srv := serve(t)
	dir := artifacts(t)

	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/?token="+srv.Token+"&lab="+name),
		chromedp.WaitVisible(chromedp.CSS(`.vertex[data-id="n:h3"]`)),
	); err != nil {
		t.Fatalf("page: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Logf("the lab's nodes drawn %v after opening the page", time.Since(start).Round(time.Millisecond))
	if strings.Contains(loc, srv.Token) || !strings.HasSuffix(loc, "/?lab="+name) {
		t.Errorf("the token stayed in the page's address: %s", loc)
	}
	n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#vertices .vertex").length`))
	if n != 7 { // 5 nodes, 2 bridges
		t.Errorf("%d vertices drawn, want 7", n)
	}
	// Traffic from h1's service shows as a rate on its cable.
	waitJS(t, ctx, 5*time.Second, `(document.querySelector('.cable[data-id="h1:eth0"]')||{classList:{contains:()=>false}}).classList.contains("busy")`)
	rate, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".rate")].map(e=>e.textContent).join(" ")`))
	t.Logf("rates shown: %q", rate)
	shot(t, ctx, dir, "web-lab.png")

	// nslab link down r2:core (lab.Cut is what it runs).
	cutAt := time.Now()
	if err := lab.Cut(context.Background(), name, "r1", "core", false, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	red := `(function(){var c=document.querySelector('.cable[data-id="r1:core"]');return !!c&&c.dataset.state==="down"&&getComputedStyle(c).stroke==="rgb(248, 81, 73)"})()`
	d := waitJS(t, ctx, 2*time.Second, red)
	t.Logf("cable red %v after the cut (%v after the cut began)", d.Round(time.Millisecond), time.Since(cutAt).Round(time.Millisecond))

	// A click on h1 shows its interfaces and addresses.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.vertex[data-id="n:h1"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 3*time.Second, fmt.Sprintf(`!!document.querySelector("#node-ifaces") && document.querySelector("#details").textContent.includes(%q)`, s+".2/26"))
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#details")))
	for _, want := range []string{"eth0", s + ".2/26", s + ".0/24 via " + s + ".1", "bash -c"} {
		if !strings.Contains(text, want) {
			t.Errorf("details of h1 lack %q:\n%s", want, text)
		}
	}
	shot(t, ctx, dir, "web-node.png")

	// A click on the cut cable, then on its button, joins it again.
	clickCable := `(function(){var c=document.querySelector('.hit[data-id="r1:core"]');c.dispatchEvent(new MouseEvent("click",{bubbles:true}));return true})()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](clickCable)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 2*time.Second, `!!document.querySelector("#cut") && document.querySelector("#cut").textContent === "Join cable"`)
	shot(t, ctx, dir, "web-cable.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#cut"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 5*time.Second, `document.querySelector('.cable[data-id="r1:core"]').dataset.state === "up"`)
	if f := lab.Faults(name); len(f.Cuts) != 0 {
		t.Errorf("cuts in force after the join from the page: %v", f.Cuts)
	}

	// A partition rings each group's nodes in its colour and lists the
	// groups; a cable shaped at runtime is drawn dashed.
	if err := lab.Partition(context.Background(), name, [][]string{{"h1", "r1"}, {"h3", "r2"}}, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	bps, err := topology.ParseRate("5mbit")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Shape(context.Background(), name, "r2", "lan", &topology.Shape{Rate: bps}, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 3*time.Second, `(function(){var f=document.querySelector("#faults .groups");var r=document.querySelector('.vertex[data-id="n:h1"] .shape').style.stroke;var c=document.querySelector('.cable[data-id="r2:lan"]');return !!f&&f.textContent.includes("h1, r1")&&f.textContent.includes("h3, r2")&&r!==""&&c.classList.contains("shaped")})()`)
	shot(t, ctx, dir, "web-faults.png")
	if _, err := lab.Heal(context.Background(), name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 3*time.Second, `!document.querySelector("#faults .groups") && !document.querySelector('.cable[data-id="r2:lan"]').classList.contains("shaped")`)

	// The token is in the tab's sessionStorage, no cookie holds it, and
	// the API refuses the page's own requests without it.
	stored, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("nslab-token")`))
	cookies, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/graph?lab=`+name+`").then(r=>r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if stored != srv.Token || cookies != "" {
		t.Errorf("sessionStorage token %q (want the server's), cookies %q (want none)", stored, cookies)
	}
	if status != http.StatusUnauthorized {
		t.Errorf("a request without the token: status %d, want 401", status)
	}
}

// waitJS polls a JavaScript condition until it holds, failing after limit;
// it returns how long it took.
func waitJS(t *testing.T, ctx context.Context, limit time.Duration, cond string) time.Duration {
	t.Helper()
	d, err := waitFor(ctx, limit, cond)
	if err != nil {
		t.Fatalf("%v\npage: %s", err, diagnose(ctx))
	}
	return d
}

func waitFor(ctx context.Context, limit time.Duration, cond string) (time.Duration, error) {
	start := time.Now()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("after %v: %s is not true (%v)", limit, cond, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A 1000-host fabric (4 spines, 20 leaves with a LAN of 50 hosts each:
// 1044 nodes and bridges, 1100 cables)
// is usable within 2 s of opening the page: every vertex drawn and every
// cable coloured from the first state.
//
// A measurement more than a check: it builds a 1044-node lab and times the
// page, which a machine busy with other tests (go test ./... runs packages
// side by side) slows past 2 s (3.9 s seen at load 13). It runs when
// NSLAB_WEB_FABRIC=1; bench/RESULTS.md has its figures.
func TestBrowserFabric(t *testing.T) {
	nslabtest.RequireRoot(t)
	if os.Getenv("NSLAB_WEB_FABRIC") != "1" {
		t.Skip("NSLAB_WEB_FABRIC=1 runs it: it times the page of a 1044-node lab, on a machine with nothing else running")
	}
	ctx := browser(t)
	name := nslabtest.Name("webfab")
	src, err := gen.Generate(gen.LeafSpine{Spines: 4, Leaves: 20, HostsPerLeaf: 50}, gen.Options{Name: name, IPv4Only: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	upLab(t, name, string(src))
	t.Logf("lab of 1044 nodes up in %v", time.Since(start).Round(time.Millisecond))
	base, srv := serve(t)
	dir := artifacts(t)
	// As a person opens the page a while after nslab web printed its
	// address: the server's last state is older than a second, so the
	// page waits for a sample of the kernel.
	time.Sleep(1500 * time.Millisecond)

	start = time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token="+srv.Token+"&lab="+name)); err != nil {
		t.Fatal(err)
	}
	usable := `window.nslab.ready && document.querySelectorAll("#vertices .vertex").length === 1044 && !document.querySelector('.cable[data-state="unknown"]') && document.querySelectorAll('.cable[data-state="up"]').length === 1100`
	if _, err := waitFor(ctx, 10*time.Second, usable); err != nil {
		t.Fatalf("page not usable: %v: %s", err, diagnose(ctx))
	}
	took := time.Since(start)
	inPage, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.nslab.drawnAt`))
	t.Logf("1044 nodes, 1100 cables usable %v after opening the page (drawn %.0f ms after navigation start)", took.Round(time.Millisecond), inPage)
	if took > 2*time.Second {
		t.Errorf("page usable after %v, want within 2 s", took)
	}
	snap := srv.Sample(name)
	t.Logf("a sample of every lab read in %.1f ms", snap.Took)
	shot(t, ctx, dir, "web-fabric.png")
}

// diagnose says what the page shows, for a failure.
func diagnose(ctx context.Context) string {
	diag, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({lab: document.body.dataset.lab, ready: window.nslab.ready, labs: window.nslab.labs, v: document.querySelectorAll("#vertices .vertex").length, unknown: document.querySelectorAll('.cable[data-state="unknown"]').length, up: document.querySelectorAll('.cable[data-state="up"]').length, down: document.querySelectorAll('.cable[data-state="down"]').length, busy: document.querySelectorAll('.cable.busy').length, status: document.getElementById("status").textContent, summary: document.getElementById("summary").textContent})`))
	if err != nil {
		return err.Error()
	}
	return diag
}
