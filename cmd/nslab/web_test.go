package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

// nslab web prints the address to open, with its token; the page needs
// the token, which the address carries once; a request from another
// site's page or under another Host is refused; Ctrl-C ends it cleanly.
func TestWebCommand(t *testing.T) {
	nslabtest.RequireRoot(t)
	cmd := exec.Command(bin, "web", "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
	}()
	var url string
	select {
	case l := <-line:
		url = regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}`).FindString(l)
		if url == "" {
			t.Fatalf("first line %q gives no address with a token", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nslab web printed no address in 5 s")
	}
	base, token, _ := strings.Cut(url, "/?token=")
	get := func(target string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+target, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		what, target string
		hdr          map[string]string
		want         int
	}{
		{"the printed address", "/?token=" + token, nil, 200},
		{"the page without the token", "/", nil, 401},
		{"the API without the token", "/api/graph?lab=x", nil, 401},
		{"the API with a wrong token", "/api/graph?lab=x", map[string]string{"X-Nslab-Token": strings.Repeat("0", 32)}, 401},
		{"a forged Origin", "/api/graph?lab=x", map[string]string{"X-Nslab-Token": token, "Origin": "http://evil.example"}, 403},
		{"a rebound DNS name", "/?token=" + token, map[string]string{"Host": "evil.example" + strings.TrimPrefix(base, "http://127.0.0.1")}, 421},
	} {
		if got := get(c.target, c.hdr); got != c.want {
			t.Errorf("%s: status %d, want %d", c.what, got, c.want)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("nslab web after Ctrl-C: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("nslab web did not end within 5 s of Ctrl-C")
	}
}
