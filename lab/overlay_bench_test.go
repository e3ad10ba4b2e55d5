package lab_test

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// BenchmarkOverlayTCP measures one TCP stream between two nodes, over
// their cable (underlay) and over a VXLAN overlay on that cable: the cost
// of the encapsulation (and of the 1450-byte MTU). go test -run '^$'
// -bench OverlayTCP ./lab
func BenchmarkOverlayTCP(b *testing.B) {
	u, o := nslabtest.Subnet(b), nslabtest.Subnet(b)
	tl := segUp(b, strings.NewReplacer("U", u, "O", o).Replace(`
overlays:
  ov: {vni: 77, subnets: [O.0/24]}
nodes:
  a: {interfaces: {eth0: {link: b:eth0, addresses: [U.1/30]}, vx0: {link: ov, underlay: eth0}}}
  b: {interfaces: {eth0: {addresses: [U.2/30]}, vx0: {link: ov, underlay: eth0}}}
`))
	for _, tc := range []struct{ name, to string }{{"underlay", u + ".2:5001"}, {"overlay", o + ".2:5002"}} {
		b.Run(tc.name, func(b *testing.B) {
			var ln net.Listener
			err := kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, "b")), func() (err error) {
				ln, err = net.Listen("tcp4", tc.to)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- 0
					return
				}
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- n
			}()
			var c net.Conn
			err = kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, "a")), func() (err error) {
				c, err = net.Dial("tcp4", tc.to)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 128<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			b.StopTimer()
			if n := <-done; n < int64(b.N)*int64(len(buf)) {
				b.Errorf("received %d bytes of %d", n, int64(b.N)*int64(len(buf)))
			}
		})
	}
}
