package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

func newGraph() *cobra.Command {
	var out string
	var noCache, timings bool
	cmd := &cobra.Command{
		Use:   "graph [LAB|FILE]",
		Short: "Draw a lab as DOT, Mermaid, SVG or JSON",
		Long: `Draw a lab: its nodes (routers marked), bridges and the host, and its cables
with the interface names and addresses at their ends, trunks between
bridges and shapes. For a running lab (LAB, or the only one running) the
drawing shows its live state as well: cut cables red and dashed, the
groups of a partition in colours, blocks and runtime shapes. A FILE is
drawn as written.

-o dot (the default) and mermaid print text for Graphviz and Mermaid; svg
prints a standalone picture laid out by nslab itself, no Graphviz needed;
json prints the graph and its layout (node positions). Layouts are kept in
the user's cache directory (~/.cache/nslab/layouts) by the shape of the
graph, so a large lab is laid out once; cuts and shapes do not change it.`,
		Example: `  nslab graph examples/routers.yaml -o svg > routers.svg
  sudo nslab graph routers -o svg > now.svg     # with cut cables and partitions
  nslab graph examples/seed.yaml | dot -Tpng > seed.png
  nslab graph examples/seed.yaml -o mermaid`,
		Args:              args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeDown,
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkGraphOutput(out); err != nil {
				return err
			}
			t, faults, err := graphTarget(cmd, a)
			if err != nil {
				return err
			}
			start := time.Now()
			g := graph.Build(t, faults)
			w := cmd.OutOrStdout()
			var data []byte
			switch out {
			case "dot":
				data = graph.DOT(g)
			case "mermaid":
				data = graph.Mermaid(g)
			default:
				l, err := graph.Place(cmd.Context(), g, &graph.Options{NoCache: noCache})
				if err != nil {
					return err
				}
				if timings {
					fmt.Fprintf(os.Stderr, "nslab: %d nodes laid out in %v\n", len(g.Nodes), since(start))
				}
				if out == "svg" {
					data = graph.SVG(g, l)
				} else if data, err = graph.JSON(g, l); err != nil {
					return err
				}
			}
			_, err = w.Write(data)
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "dot", "output format: dot, mermaid, svg or json")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "lay the graph out anew, without reading or writing the layout cache")
	cmd.Flags().BoolVar(&timings, "timings", false, "print how long the layout took on stderr")
	return cmd
}

func checkGraphOutput(o string) error {
	switch o {
	case "dot", "mermaid", "svg", "json":
		return nil
	}
	return &usageError{fmt.Errorf("--output %q: use dot, mermaid, svg or json", o)}
}

// graphTarget reads what graph draws: a topology file as written, or a
// running lab (named, or the only one) with its faults in force.
func graphTarget(cmd *cobra.Command, a []string) (*topology.Lab, *plan.Faults, error) {
	if len(a) == 1 {
		if _, err := os.Stat(a[0]); err == nil || a[0] == topology.Stdin {
			t, _, err := loadFile(cmd.Context(), a[0], "")
			return t, nil, err
		}
		if topology.ValidLabName(a[0]) != nil {
			return nil, nil, fmt.Errorf("%s: no such file, and not a lab name", a[0])
		}
	}
	name, err := oneLab(a)
	if err != nil {
		return nil, nil, err
	}
	t, err := lab.Topology(name)
	if err != nil {
		return nil, nil, err
	}
	return t, lab.Faults(name), nil
}
