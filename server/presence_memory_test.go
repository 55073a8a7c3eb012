package server_test

import (
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
)

// TestMemoryPresenceConformance runs the presence store conformance suite
// against MemoryPresence.
func TestMemoryPresenceConformance(t *testing.T) {
	brokertest.RunPresence(t, func(t *testing.T) []server.PresenceStore {
		return []server.PresenceStore{server.NewMemoryPresence()}
	})
}
