package kernel

// Underlay is the root namespace's interface that holds a machine's
// underlay address: what a lab across machines sends its VXLAN tunnels by,
// and whose MTU bounds the MTU of the segments they carry.
type Underlay struct {
	Dev string `json:"dev"`
	MTU int    `json:"mtu"`
}
