package nslab_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// etcdLab is three etcd members, e1 to e3, run as the lab's services,
// and a node c for the test's client, on one bridge.
func etcdLab(t *testing.T) *topology.Lab {
	t.Helper()
	b := topology.NewBuilder("lh-etcd")
	b.Bridge("lan")
	var cluster []string
	for i := 1; i <= 3; i++ {
		cluster = append(cluster, fmt.Sprintf("e%d=http://10.5.0.1%d:2380", i, i))
	}
	for i := 1; i <= 3; i++ {
		name, ip := fmt.Sprintf("e%d", i), fmt.Sprintf("10.5.0.1%d", i)
		b.Node(name).Interface("eth0", "lan").Addresses(ip + "/24")
		b.Node(name).Service("etcd", topology.ServiceSpec{
			Command: []string{"etcd", "--name", name, "--data-dir", "data",
				"--listen-peer-urls", "http://" + ip + ":2380", "--initial-advertise-peer-urls", "http://" + ip + ":2380",
				"--listen-client-urls", "http://" + ip + ":2379,http://127.0.0.1:2379", "--advertise-client-urls", "http://" + ip + ":2379",
				"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new"},
			Ready: &topology.ReadySpec{HTTP: "http://127.0.0.1:2379/health", Timeout: "60s", Interval: "200ms"},
		})
	}
	b.Node("c").Interface("eth0", "lan").Addresses("10.5.0.2/24")
	topo, err := b.Lab()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// etcdClient talks to etcd's JSON gateway from node c of the lab.
type etcdClient struct{ http *http.Client }

func (c etcdClient) call(member, path string, body any) (map[string]any, error) {
	data, _ := json.Marshal(body)
	resp, err := c.http.Post("http://"+member+":2379"+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s%s: %s: %v", member, path, resp.Status, out)
	}
	return out, nil
}

func (c etcdClient) put(member, key, value string) error {
	_, err := c.call(member, "/v3/kv/put", map[string]string{"key": b64(key), "value": b64(value)})
	return err
}

func (c etcdClient) get(member, key string) (string, error) {
	out, err := c.call(member, "/v3/kv/range", map[string]string{"key": b64(key)})
	if err != nil {
		return "", err
	}
	kvs, _ := out["kvs"].([]any)
	if len(kvs) == 0 {
		return "", nil
	}
	v, _ := base64.StdEncoding.DecodeString(kvs[0].(map[string]any)["value"].(string))
	return string(v), nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestEtcdClusterAcrossAPartition is the second test a user writes: an
// etcd cluster of three members, the lab's services, driven from Go in
// the test's process through node c. A member cut off from the other two
// by a partition takes no write; the majority does; after the heal the
// lone member catches up and takes writes again.
func TestEtcdClusterAcrossAPartition(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("needs etcd in PATH (Debian: apt-get install etcd-server)")
	}
	l := nslabtest.Start(t, etcdLab(t))
	c := etcdClient{&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: l.Node("c").DialContext}}}
	if err := c.put("e1", "k", "v1"); err != nil {
		t.Fatalf("put through e1: %v", err)
	}
	for _, m := range []string{"e1", "e2", "e3"} {
		if v, err := c.get(m, "k"); err != nil || v != "v1" {
			t.Errorf("k through %s: %q %v", m, v, err)
		}
	}
	ctx := context.Background()
	if err := l.Partition(ctx, []string{"e1"}, []string{"e2", "e3", "c"}); err != nil {
		t.Fatal(err)
	}
	// The majority elects a leader of its own if e1 led: a write waits
	// for that.
	if err := retry(15*time.Second, func() error { return c.put("e2", "k", "v2") }); err != nil {
		t.Errorf("put through e2, in the majority: %v", err)
	}
	if err := c.put("e1", "k", "lost"); err == nil {
		t.Error("put through e1, cut off from the cluster and from c, worked")
	}
	lone := etcdClient{&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: l.Node("e1").DialContext}}}
	if err := lone.put("e1", "k", "lost"); err == nil {
		t.Error("put through e1 from e1 itself worked: a minority took a write")
	}
	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := retry(20*time.Second, func() error { return c.put("e1", "k", "v3") }); err != nil {
		t.Fatalf("put through e1 after the heal: %v", err)
	}
	for _, m := range []string{"e1", "e2", "e3"} {
		if v, err := c.get(m, "k"); err != nil || v != "v3" {
			t.Errorf("k through %s after the heal: %q %v", m, v, err)
		}
	}
}

// retry calls f until it succeeds or d has passed, and returns its last
// error.
func retry(d time.Duration, f func() error) error {
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = f(); err == nil {
			return nil
		}
	}
	return err
}
