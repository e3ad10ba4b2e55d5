package main

import "testing"

// TestDriftCountsCommands: the DRIFT column counts commands; an nft
// script on a here-document is one (a deleted table showed "drift (30)",
// the script's lines, before).
func TestDriftCountsCommands(t *testing.T) {
	n := 0
	lines := []string{
		"nft -f - <<'EOF'", "table inet nslab-x", "delete table inet nslab-x", "table inet nslab-x {", "}", "EOF",
		"sysctl -qw net.ipv6.conf.nb-x.accept_ra=0",
		"ip link set np-x master nb-x",
	}
	if got := drift(lines, &n); got != "drift (3)" || n != 3 {
		t.Errorf("drift = %q, total %d; want drift (3), 3", got, n)
	}
	if got := drift(nil, &n); got != "-" || n != 3 {
		t.Errorf("no drift = %q, total %d", got, n)
	}
}
