package nslab_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/nslab/nslab"
	"github.com/nslab/nslab/topology"
)

// A lab built from Go, a server in one node and a client in another,
// both in this process, then removed. Run as root.
func ExampleStart() {
	b := topology.NewBuilder("example")
	b.Bridge("lan").Subnets("10.1.0.0/24")
	b.Node("a").Interface("eth0", "lan")
	b.Node("b").Interface("eth0", "lan")
	topo, err := b.Lab()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	l, err := nslab.Start(ctx, topo, nslab.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ln, err := l.Node("a").Listen("tcp", ":7")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()
	c, err := l.Node("b").Dial("tcp", "a:7") // a: the lab's name of node a
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(c, "hello")
	buf := make([]byte, 6)
	io.ReadFull(c, buf)
	fmt.Printf("%s", buf)
	c.Close()
}

// A command runs in a node as nslab exec runs it: the node's hostname,
// the lab's hosts file.
func ExampleNode_Command() {
	var l *nslab.Lab // from nslab.Start
	out, err := l.Node("a").Command(context.Background(), "sh", "-c", "hostname; getent hosts b").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
}

// Breaking the lab's network and mending it, while its nodes run.
func ExampleLab_Partition() {
	var l *nslab.Lab // from nslab.Start
	ctx := context.Background()
	if err := l.Partition(ctx, []string{"a"}, []string{"b", "c"}); err != nil {
		log.Fatal(err)
	}
	// ... a cannot reach b and c, open connections included ...
	if err := l.Heal(ctx); err != nil {
		log.Fatal(err)
	}
	if err := l.Cut(ctx, "b", "eth0"); err != nil { // b's cable pulled out
		log.Fatal(err)
	}
	if err := l.Join(ctx, "b", "eth0"); err != nil {
		log.Fatal(err)
	}
	if err := l.Shape(ctx, "c", "eth0", &topology.Shape{Rate: 10_000_000}); err != nil { // 10 Mbit/s
		log.Fatal(err)
	}
}
