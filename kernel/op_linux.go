package kernel

// applier is the half of Op that changes the kernel.
type applier interface {
	// Apply performs the operation.
	Apply(c *Conn) error
}
