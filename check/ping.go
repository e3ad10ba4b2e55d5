package check

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// Target is one address to ping from inside a namespace.
type Target struct {
	Addr netip.Addr `json:"addr"`
	// Src, when set, is the source address of the requests.
	Src netip.Addr `json:"src,omitzero"`
	// Dev, when set, pins the requests to this egress interface of the
	// namespace, so they can leave by no other.
	Dev string `json:"dev,omitempty"`
}

// Result is the outcome of pinging one Target.
type Result struct {
	Target Target `json:"target"`
	OK     bool   `json:"ok"`
	// RTT is the round trip of the request that was answered.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Err says why a target failed, such as "no reply after 1s".
	Err string `json:"error,omitempty"`
}

// Options tune Ping and Run. The zero value means the defaults.
type Options struct {
	// Count is the most echo requests sent to one target, Interval
	// apart, until one is answered. Default 3.
	Count int
	// Interval separates requests to the same target. Default 100ms.
	Interval time.Duration
	// Timeout is how long a target may take to answer, from its first
	// request. Default 1s. Since all targets are probed at once, it also
	// bounds a whole Ping call.
	Timeout time.Duration
	// Workers is how many source nodes Run probes at once. Default
	// runtime.NumCPU()*4.
	Workers int
	// HostDev maps a host-side device of the model (a bridge or the host
	// end of a cable) to its name in the root namespace, for Run's
	// pinning of the host's probes. Nil keeps the model's names.
	HostDev func(dev string) string
	// Sample is how many pairs of nodes Run probes (see ExpectSample):
	// 0 probes all pairs of a lab of up to MatrixMax nodes, and of a
	// larger one while the kernel's neighbour table has room for them,
	// else AutoSample pairs; a negative value probes all pairs whatever
	// the lab's size.
	Sample int
	// Seed chooses the sampled pairs: the same seed, lab and Sample give
	// the same pairs. The zero value is a seed like any other.
	Seed int64
	// Faults are the faults in force in the lab: Run expects the probes
	// they stop to fail, and fails those that answer (see Faults).
	Faults *Faults
	// Sources, when set, limits the probes to those sent from the nodes
	// it accepts (the host is topology.HostNode): one machine's part of
	// a lab across machines. The pairs are chosen on the whole lab, so a
	// sample is the same on every machine.
	Sources func(node string) bool

	// limits replaces the neighbour table's sizes read from /proc, and
	// autoSample AutoSample, in tests.
	limits     *neighLimits
	autoSample int
	// trace, when set (in tests), is told what Run does as it goes: a
	// wave begun, its entries primed, its learning frames sent, its
	// probes answered or timed out, its entries forgotten, a retry.
	trace func(step string)
}

// step tells o.trace, if set, what a check has just done.
func (o *Options) step(format string, args ...any) {
	if o.trace != nil {
		o.trace(fmt.Sprintf(format, args...))
	}
}

// AutoSample is how many pairs Run probes when it samples a lab by
// itself.
const AutoSample = 500

// Defaults of Options.
const (
	DefaultCount    = 3
	DefaultInterval = 100 * time.Millisecond
	DefaultTimeout  = time.Second
)

// withDefaults fills in unset options.
func (o Options) withDefaults() Options {
	if o.Count <= 0 {
		o.Count = DefaultCount
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU() * 4
	}
	if o.HostDev == nil {
		o.HostDev = func(dev string) string { return dev }
	}
	if o.autoSample <= 0 {
		o.autoSample = AutoSample
	}
	return o
}
