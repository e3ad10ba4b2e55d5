package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// cleaner remembers how to remove everything the bench made, so that it
// goes at the end even when a step fails or the run is interrupted.
type cleaner struct {
	mu    sync.Mutex
	steps []*cleanStep
}

type cleanStep struct {
	what string
	fn   func() error
	done bool
}

// add registers fn, which removes what; steps run last-in, first-out.
func (c *cleaner) add(what string, fn func() error) *cleanStep {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &cleanStep{what: what, fn: fn}
	c.steps = append(c.steps, s)
	return s
}

// disarm marks a step as done: the measured teardown already removed it.
func (c *cleaner) disarm(s *cleanStep) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.done = true
}

// runAll runs every step that is still armed, all of them even when some
// fail, and returns the failures.
func (c *cleaner) runAll() []string {
	c.mu.Lock()
	steps := c.steps
	c.steps = nil
	c.mu.Unlock()
	var failed []string
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if s.done {
			continue
		}
		progress("cleanup: %s", s.what)
		if err := s.fn(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s.what, err))
		}
		s.done = true
	}
	return failed
}

// Names of the objects the bench makes: nslab labs are called bench-…,
// the ip script's nodes bip.hN / btcp.hN / bshp.hN with host links
// bip-… / btcp-… / bshp-…,
// Mininet's switch s1 with ports s1-ethN.
var (
	benchNetnsPrefixes = []string{"bench-", "bip.", "btcp.", "bshp."}
	benchLinkPrefixes  = []string{"bip-", "btcp-", "bshp-"}
)

// leftovers lists what of the bench's labs is still on the machine:
// namespaces, their mounts, root-namespace links and nslab state. With a
// lab name it looks at that lab only.
func leftovers(labName string, mininet bool) []string {
	// nslab marks its links with the altname NAME.LAB and the alias
	// nslab:LAB:KIND:NAME.
	nsPrefixes, linkPrefixes, altPrefixes := benchNetnsPrefixes, benchLinkPrefixes, []string{"bench-", "nslab:bench-"}
	if labName != "" {
		nsPrefixes, linkPrefixes, altPrefixes = []string{labName + "."}, nil, []string{labName + ".", "nslab:" + labName + ":"}
	}
	var left []string
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			if hasAnyPrefix(e.Name(), nsPrefixes) {
				left = append(left, "namespace /run/netns/"+e.Name())
			}
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && strings.HasPrefix(fields[4], "/run/netns/") &&
				hasAnyPrefix(strings.TrimPrefix(fields[4], "/run/netns/"), nsPrefixes) {
				left = append(left, "mount "+fields[4])
			}
		}
		f.Close()
	}
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			name, alts := parseLinkLine(line)
			switch {
			case name == "":
			case hasAnyPrefix(name, linkPrefixes):
				left = append(left, "link "+name)
			case labName == "" && mininet && (name == "s1" || strings.HasPrefix(name, "s1-eth")):
				left = append(left, "link "+name+" (Mininet)")
			default:
				for _, a := range alts {
					lab := a[strings.LastIndexByte(a, '.')+1:] // of an altname NAME.LAB
					if hasAnyPrefix(a, altPrefixes) || labName == "" && strings.HasPrefix(lab, "bench-") || labName != "" && lab == labName {
						left = append(left, "link "+name+" ("+a+")")
						break
					}
				}
			}
		}
	}
	dirs, _ := filepath.Glob("/run/nslab/bench-*")
	if labName != "" {
		dirs, _ = filepath.Glob("/run/nslab/" + labName)
	}
	for _, d := range dirs {
		left = append(left, "nslab state "+d)
	}
	return left
}

// parseLinkLine reads the name, the altnames and the alias from a line of
// ip -o link.
func parseLinkLine(line string) (name string, alts []string) {
	f := strings.Fields(strings.ReplaceAll(line, `\`, " "))
	if len(f) < 2 {
		return "", nil
	}
	name = strings.TrimSuffix(f[1], ":")
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "altname" || f[i] == "alias" {
			alts = append(alts, f[i+1])
		}
	}
	return name, alts
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// linkExists reports whether the root namespace has a link of that name.
// It asks netlink, not /sys/class/net, which shows the links of the
// namespace that mounted /sys (not the bench's under unshare -n).
func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// settledLeftovers is leftovers after the kernel has had up to limit to
// finish deleting what is already on its way out (namespaces are freed
// asynchronously, and their cables with them).
// It also returns how long that took.
func settledLeftovers(labName string, mininet bool, limit time.Duration) ([]string, time.Duration) {
	start := time.Now()
	for {
		left := leftovers(labName, mininet)
		if len(left) == 0 || time.Since(start) > limit {
			return left, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summarize shortens a long list for printing.
func summarize(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(append([]string{}, list[:n]...), fmt.Sprintf("… and %d more", len(list)-n))
}
