package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// ruleComment is the comment Firewall gives each rule, "nslab RULE-DIGEST":
// a digest of the rule's expressions as they are sent to the kernel. A
// rule changed or added by hand lacks it or has another, which is how a
// check sees the table drift without decoding rules (ObserveFirewall).
func ruleComment(e []expr.Any, anon ...[]nftables.SetElement) []byte {
	h := sha256.New()
	// The elements of the rule's anonymous sets are part of it (an
	// anonymous set is the rule's own, and its lookup names it only by
	// a per-connection name), in the digest when there are any.
	for _, elems := range anon {
		for _, el := range elems {
			h.Write([]byte{byte(len(el.Key))})
			h.Write(el.Key)
		}
	}
	for _, x := range e {
		if l, ok := x.(*expr.Lookup); ok {
			c := *l
			c.SetID = 0 // given per connection, not part of the rule
			if strings.HasPrefix(c.SetName, "__set") {
				c.SetName = "" // an anonymous set: named per connection too
			}
			x = &c
		}
		b, err := expr.Marshal(unix.NFPROTO_INET, x)
		if err != nil {
			fmt.Fprintf(h, "%T", x)
		}
		h.Write(b)
	}
	return userdata.AppendString(nil, userdata.TypeComment, "nslab "+hex.EncodeToString(h.Sum(nil)[:8]))
}

// fwRecord records what Firewall.build would write.
type fwRecord struct{ seen FirewallSeen }

func (r *fwRecord) AddTable(t *nftables.Table) *nftables.Table { return t }
func (r *fwRecord) AddChain(c *nftables.Chain) *nftables.Chain {
	if _, ok := r.seen.Rules[c.Name]; !ok {
		r.seen.Rules[c.Name] = []string{}
	}
	return c
}
func (r *fwRecord) AddSet(s *nftables.Set, elems []nftables.SetElement) error {
	if s.Anonymous {
		s.Name = "__set" // as a connection names it, in part (see ruleComment)
	}
	if s.Name != "links" {
		return nil
	}
	for _, e := range elems {
		r.seen.Links = append(r.seen.Links, string(bytes.TrimRight(e.Key, "\x00")))
	}
	slices.Sort(r.seen.Links)
	return nil
}
func (r *fwRecord) AddRule(x *nftables.Rule) *nftables.Rule {
	c, _ := userdata.GetString(x.UserData, userdata.TypeComment)
	r.seen.Rules[x.Chain.Name] = append(r.seen.Rules[x.Chain.Name], c)
	return x
}

// Seen is the table as ObserveFirewall reads it once Apply has written it.
func (o *Firewall) Seen() *FirewallSeen {
	r := &fwRecord{seen: FirewallSeen{Present: true, Rules: map[string][]string{}}}
	o.build(r, &nftables.Table{Name: TableName(o.Lab), Family: nftables.TableFamilyINet})
	return &r.seen
}

// ObserveFirewall reads a lab's nftables table: its chains, the comments
// of their rules and the elements of its set of links. A table that is
// missing, or that is not nslab's, is not Present; so is every table on a
// kernel without nf_tables, where ok is false: there is nothing to
// compare.
func ObserveFirewall(lab string) (seen *FirewallSeen, ok bool, err error) {
	c, err := nftables.New()
	if err != nil {
		return nil, false, opErr("", "opening nftables", err)
	}
	defer c.CloseLasting()
	seen = &FirewallSeen{Rules: map[string][]string{}}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, os.ErrNotExist) || noNftables(err) {
		return seen, false, nil
	}
	if err != nil {
		return nil, false, opErr("", "listing nftables chains", err)
	}
	t := &nftables.Table{Name: TableName(lab), Family: nftables.TableFamilyINet}
	for _, ch := range chains {
		if ch.Table.Name == t.Name && ch.Name == ownerChain(lab) {
			seen.Present = true
		}
	}
	if !seen.Present {
		return seen, true, nil
	}
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, true, opErr("", "listing the rules of the nftables table inet "+t.Name, err)
		}
		seen.Rules[ch.Name] = []string{}
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			seen.Rules[ch.Name] = append(seen.Rules[ch.Name], s)
		}
	}
	set, err := c.GetSetByName(t, "links")
	if err != nil {
		return seen, true, nil // no set: the table is not as nslab writes it
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return nil, true, opErr("", "listing the set of links of the nftables table inet "+t.Name, err)
	}
	for _, e := range elems {
		seen.Links = append(seen.Links, string(bytes.TrimRight(e.Key, "\x00")))
	}
	slices.Sort(seen.Links)
	return seen, true, nil
}
