// Command nslab-layout lays out a graph for nslab graph and nslab web:
// it reads the graph in DOT on standard input and writes the position of
// every node as JSON on standard output, computed by Graphviz compiled to
// WebAssembly (no Graphviz install needed). It is a command of its own so
// that nslab's other commands do not pay Graphviz's start-up (about 100
// ms and 20 MB). nslab finds it next to its own executable or in PATH.
//
// Usage: nslab-layout [ENGINE] < graph.dot > positions.json
//
// ENGINE is a Graphviz layout engine: neato (the default), sfdp, dot,
// twopi, circo or fdp.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/nslab/nslab/internal/gvlayout"
)

func main() {
	engine := "neato"
	switch len(os.Args) {
	case 1:
	case 2:
		engine = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: nslab-layout [ENGINE] < graph.dot > positions.json")
		os.Exit(2)
	}
	dot, err := io.ReadAll(os.Stdin)
	if err == nil {
		var out []byte
		if out, err = gvlayout.Layout(context.Background(), dot, engine); err == nil {
			_, err = os.Stdout.Write(append(out, '\n'))
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nslab-layout: %v\n", err)
		os.Exit(1)
	}
}
