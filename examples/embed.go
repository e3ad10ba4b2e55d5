// Package examples holds the example topologies, embedded so that
// nslab demo runs without any file at hand.
package examples

import _ "embed"

// Seed is examples/seed.yaml: two nodes on one bridge with the host.
//
//go:embed seed.yaml
var Seed []byte
