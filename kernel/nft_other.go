//go:build !linux

package kernel

// Seen is the table as ObserveFirewall reads it once Apply has written
// it. The rules are built with Linux's nftables constants, so elsewhere
// it is nil: no State there holds an observed table to compare with.
func (o *Firewall) Seen() *FirewallSeen { return nil }
