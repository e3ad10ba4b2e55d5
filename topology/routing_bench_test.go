package topology

import (
	"fmt"
	"strings"
	"testing"
)

// routerLine is a line of n routers, each with a LAN of one host, with
// routing: auto. With vrfs, every router carries the line and its LAN in
// two vrfs, red and blue, that use the same addresses (VRF-lite), and
// has a host of each colour.
func routerLine(n int, vrfs bool) []byte {
	var b strings.Builder
	b.WriteString("name: line\nrouting: auto\nnodes:\n")
	colours := []string{""}
	if vrfs {
		colours = []string{"red", "blue"}
	}
	for i := range n {
		fmt.Fprintf(&b, "  r%d:\n    router: true\n    interfaces:\n", i)
		for _, c := range colours {
			fmt.Fprintf(&b, "      lan%s: {link: h%s%d:eth0, addresses: [10.%d.%d.1/24]}\n", c, c, i, 1+i/200, i%200)
			if i+1 < n {
				fmt.Fprintf(&b, "      east%s: {link: r%d:west%s, addresses: [10.0.%d.%d/31]}\n", c, i+1, c, i/128, 2*(i%128))
			}
			if i > 0 {
				fmt.Fprintf(&b, "      west%s: {addresses: [10.0.%d.%d/31]}\n", c, (i-1)/128, 2*((i-1)%128)+1)
			}
		}
		if vrfs {
			for t, c := range colours {
				var m []string
				m = append(m, "lan"+c)
				if i+1 < n {
					m = append(m, "east"+c)
				}
				if i > 0 {
					m = append(m, "west"+c)
				}
				fmt.Fprintf(&b, "      %s: {kind: vrf, table: %d, members: [%s]}\n", c, 10+t, strings.Join(m, ", "))
			}
		}
		for _, c := range colours {
			fmt.Fprintf(&b, "  h%s%d: {interfaces: {eth0: {addresses: [10.%d.%d.2/24]}}}\n", c, i, 1+i/200, i%200)
		}
	}
	return []byte(b.String())
}

// BenchmarkAutoRoutes parses a line of 100 routers with routing: auto:
// without vrfs (100 routers, 100 hosts), and with two vrfs per router
// that reuse the same addresses (200 realms of routers, 200 hosts). It
// reports the routes computed and the CPU time per parse.
//
//	go test -run '^$' -bench AutoRoutes -benchtime 20x ./topology
func BenchmarkAutoRoutes(b *testing.B) {
	for _, vrfs := range []bool{false, true} {
		b.Run(fmt.Sprintf("vrfs=%v", vrfs), func(b *testing.B) {
			data := routerLine(100, vrfs)
			routes := 0
			cpu := cpuTime()
			for b.Loop() {
				l, err := Parse("line.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				routes = 0
				for _, n := range l.Nodes {
					routes += len(n.Routes)
				}
			}
			b.ReportMetric(float64(routes), "routes")
			// CPU time per parse: what it costs whatever else the
			// shared machine does (wall time there varies 3x).
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// TestRouterLine: the benchmark's labs route what they should: the
// first router reaches the last LAN, in each vrf's table.
func TestRouterLine(t *testing.T) {
	for _, vrfs := range []bool{false, true} {
		l, err := Parse("line.yaml", routerLine(5, vrfs))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"10.1.4.0/24 via 10.0.0.1": true}
		if vrfs {
			want = map[string]bool{"10.1.4.0/24 via 10.0.0.1 vrf blue": true, "10.1.4.0/24 via 10.0.0.1 vrf red": true}
		}
		got := map[string]bool{}
		for _, r := range l.Node("r0").Routes {
			s := r.To.String() + " via " + r.Via.String()
			if r.VRF != "" {
				s += " vrf " + r.VRF
			}
			if r.To.String() == "10.1.4.0/24" {
				got[s] = true
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("vrfs=%v: r0's routes to the last LAN %v, want %v", vrfs, got, want)
		}
	}
}
