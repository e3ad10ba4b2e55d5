package gen

import (
	"fmt"

	"github.com/nslab/nslab/topology"
)

// Options are the settings that every kind of lab takes.
type Options struct {
	// Name is the lab name. Empty names the lab after its kind and size,
	// such as star-200.
	Name string
	// IPv4Only leaves out IPv6 addresses and routes.
	IPv4Only bool
	// Command is the command line recorded in the file's header, such as
	// "nslab gen star --nodes 200". Empty leaves that line out.
	Command string
}

// Kind is one shape of lab with its sizes: Star, Line, Tree, LeafSpine or
// FatTree.
type Kind interface {
	// Kind returns the name of the shape as nslab gen spells it, such as
	// "leaf-spine".
	Kind() string
	// size returns the sizes for the default lab name, such as "200".
	size() string
	// build makes the lab, after checking the sizes.
	build(v6 bool) (*lab, error)
}

// MaxNodes is the most nodes and bridges, together, of a generated lab.
const MaxNodes = 100_000

// Generate returns the topology file of a lab of kind k: a YAML document
// that topology.Parse accepts.
func Generate(k Kind, o Options) ([]byte, error) {
	l, err := k.build(!o.IPv4Only)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Kind(), err)
	}
	l.name = o.Name
	if l.name == "" {
		l.name = k.Kind() + "-" + k.size()
	}
	if err := topology.ValidLabName(l.name); err != nil {
		return nil, fmt.Errorf("%w: choose another lab name", err)
	}
	out := l.write(o.Command)
	if len(out) > topology.MaxFileSize {
		return nil, fmt.Errorf("%s: the file would be %.1f MiB; nslab reads files of at most %d MiB: make the lab smaller",
			k.Kind(), float64(len(out))/(1<<20), topology.MaxFileSize>>20)
	}
	return out, nil
}

// checkCount rejects a lab of more than MaxNodes nodes and bridges.
// Sizes are checked one by one first, so that products do not overflow.
func checkCount(what string, n int) error {
	if n > MaxNodes || n < 0 {
		return fmt.Errorf("%s would make more than %d nodes and bridges; make it smaller", what, MaxNodes)
	}
	return nil
}

// atLeast checks that a size is at least lo.
func atLeast(flag string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("%s is %d; it must be at least %d", flag, v, lo)
	}
	return nil
}

// atMost checks that a size is at most hi, saying why.
func atMost(flag string, v, hi int, why string) error {
	if v > hi {
		return fmt.Errorf("%s is %d; it can be at most %d: %s", flag, v, hi, why)
	}
	return nil
}
