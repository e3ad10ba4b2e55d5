package lab_test

import (
	"context"
	"fmt"
	"net"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

// A lab from a file, built, probed, used from Go and removed: the
// README's library example, compiled here so that it stays true.
func ExampleUp() {
	ctx := context.Background()
	t, err := topology.Load("../examples/seed.yaml") // parse and validate; t keeps the file's text
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := lab.Up(ctx, t, nil, lab.Options{}); err != nil { // build (nil: the text t keeps)
		fmt.Println(err)
		return
	}
	defer lab.Down(ctx, t.Name, lab.Options{})     // remove
	rep, err := lab.Check(ctx, t, check.Options{}) // probe reachability
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Failed == 0)
	// Run Go code inside a node: a listener made there stays in the
	// node's namespace and can be used from any goroutine.
	var ln net.Listener
	err = kernel.Do(kernel.NetnsPath("seed.ns1"), func() (err error) {
		ln, err = net.Listen("tcp", "10.0.0.2:8080")
		return err
	})
	if err == nil {
		ln.Close()
	}
}
