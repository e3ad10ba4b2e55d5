package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestWriter reads a written file back with gopacket's pcapgo.
func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, 1500, LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 123456789)
	pk := packets(t)
	if err := w.WritePacket(ts, pk["icmp"], len(pk["icmp"])); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(ts.Add(time.Millisecond), pk["udp53"][:20], len(pk["udp53"])); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.Snaplen() != 1500 {
		t.Errorf("link type %v, snaplen %d", r.LinkType(), r.Snaplen())
	}
	data, ci, err := r.ReadPacketData()
	if err != nil || !bytes.Equal(data, pk["icmp"]) || !ci.Timestamp.Equal(ts) || ci.Length != len(data) {
		t.Errorf("first packet: %v %v %v", err, ci, len(data))
	}
	data, ci, err = r.ReadPacketData()
	if err != nil || len(data) != 20 || ci.Length != len(pk["udp53"]) || ci.CaptureLength != 20 {
		t.Errorf("second packet (truncated): %v %+v", err, ci)
	}
}
