package service

import (
	"context"
	"strings"
	"testing"
)

// TestDialLooksNoNameUp: a readiness check refuses a host name before it
// would ask a resolver (and before it enters the node: no namespace is
// needed to see it refused).
func TestDialLooksNoNameUp(t *testing.T) {
	_, err := dialIn(context.Background(), "nslab-no-such-ns.n1", "tcp", "db.example.com:5432")
	if err == nil || !strings.Contains(err.Error(), "db.example.com: not an IP address") {
		t.Errorf("dial of a name: %v, want it refused as no IP address", err)
	}
}
