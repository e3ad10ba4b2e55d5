package lab_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

// upLogged runs up of tl and returns what it told the user.
func upLogged(t *testing.T, tl *topology.Lab, replace bool) (string, error) {
	t.Helper()
	var mu sync.Mutex
	var b strings.Builder
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&b, format+"\n", args...)
	}
	err := lab.Up(context.Background(), tl, tl.Source, lab.Options{Logf: logf, Replace: replace})
	return b.String(), err
}

// TestUpSaysServicesChange: up of a running lab whose network is as the
// file says but whose services are not (one added, one removed) does
// not tell the user "nothing to change" and then change them; a second
// up of the same file does say so. (It did say so, then started the new
// service.)
func TestUpSaysServicesChange(t *testing.T) {
	one := sh("a", "one", "exec sleep infinity")
	tl := svcLab(t, []string{"a"}, one)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	two := sh("a", "two", "exec sleep infinity")
	for _, c := range []struct {
		what    string
		tl      *topology.Lab
		nothing bool
		replace bool // a running service removed needs --replace
	}{
		{"a service added", again(t, tl, one, two), false, false},
		{"the same file again", again(t, tl, one, two), true, false},
		{"a service removed", again(t, tl, two), false, true},
	} {
		msg, err := upLogged(t, c.tl, c.replace)
		if err != nil {
			t.Fatalf("%s: up: %v", c.what, err)
		}
		if got := strings.Contains(msg, "nothing to change"); got != c.nothing {
			t.Errorf("%s: up said %q; want \"nothing to change\" in it: %v", c.what, msg, c.nothing)
		}
	}
}
