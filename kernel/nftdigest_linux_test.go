package kernel

import (
	"net/netip"
	"slices"
	"testing"
)

// TestRuleDigestCoversAnonymousSets: the comment of a rule that looks up
// an anonymous set changes with the set's elements, so that a running
// lab's table written with other elements (by an older nslab that let
// router advertisements in, or edited by hand) is seen to differ and is
// written again.
func TestRuleDigestCoversAnonymousSets(t *testing.T) {
	fw := &Firewall{Lab: "digest", Links: []string{"nb-digest"}}
	before := fw.Seen().Rules["input"]
	saved := segmentICMPv6
	t.Cleanup(func() { segmentICMPv6 = saved })
	segmentICMPv6 = append(slices.Clone(saved), struct {
		typ  byte
		name string
	}{134, "nd-router-advert"})
	if after := fw.Seen().Rules["input"]; slices.Equal(before, after) {
		t.Errorf("the input chain's comments are the same with and without nd-router-advert in its ICMPv6 set: %q", after)
	}

	pub := func(a string) []string {
		f := &Firewall{Lab: "digest", Links: []string{"nb-digest"}, Publish: []Forward{{
			Proto: "tcp", HostPort: 19080, To: netip.MustParseAddr("10.240.0.2"), Port: 80,
			Daddrs: []netip.Addr{netip.MustParseAddr("10.240.0.1"), netip.MustParseAddr(a)}}}}
		return f.Seen().Rules["prerouting"]
	}
	if a, b := pub("127.0.0.1"), pub("10.240.0.3"); slices.Equal(a, b) {
		t.Errorf("a published port's rule has the same comment on two sets of host addresses: %q", a)
	}
}
