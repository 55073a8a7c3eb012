package server_test

import (
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
)

// TestMemoryConformance runs the broker conformance suite against the
// in-memory broker.
func TestMemoryConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) server.Broker {
		b := server.NewMemoryBroker(&server.MemoryConfig{HistorySize: brokertest.HistorySize})
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
