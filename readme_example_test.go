package nslab_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// An HTTP server in node a, a client in node b, both in this test's
// process: served, not across a partition, served again after the heal.
func TestWebAcrossAPartition(t *testing.T) {
	b := topology.NewBuilder("web")
	b.Bridge("lan").Subnets("10.1.0.0/24") // nodes get addresses from it
	b.Node("a").Interface("eth0", "lan")
	b.Node("b").Interface("eth0", "lan")
	topo, err := b.Lab()
	if err != nil {
		t.Fatal(err)
	}
	l := nslabtest.Start(t, topo) // skips without root; removed at the end

	ln, err := l.Node("a").Listen("tcp", ":80") // a socket in node a
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from a")
	}))
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext:       l.Node("b").DialContext, // connections from node b
		DisableKeepAlives: true,
	}}
	get := func() error {
		resp, err := client.Get("http://a/") // a: the lab's name of node a
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	if err := get(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Partition(ctx, []string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if get() == nil {
		t.Error("b reached a across the partition")
	}
	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Error(err)
	}
}
