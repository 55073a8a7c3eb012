package server

import (
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
)

// TestREADMEDefaults pins the defaults the README states (Limits and the
// fault suite; Authentication and permissions): changing one must change
// the README too.
func TestREADMEDefaults(t *testing.T) {
	c := (*Config)(nil).withDefaults()
	for _, d := range []struct {
		name      string
		got, want any
	}{
		{"MaxConnections", c.MaxConnections, 10_000},
		{"MaxConnectionsPerIP", c.MaxConnectionsPerIP, 1_000},
		{"IdleTimeout", c.IdleTimeout, time.Minute},
		{"BodyTimeout", c.BodyTimeout, 10 * time.Second},
		{"PublishRate", c.PublishRate, 200.0},
		{"PublishBurst", c.PublishBurst, 400},
		{"IdentityPublishRate", c.IdentityPublishRate, 1_000.0},
		{"IdentityPublishBurst", c.IdentityPublishBurst, 2_000},
		{"Heartbeat", c.Heartbeat, 15 * time.Second},
		{"WriteTimeout", c.WriteTimeout, 10 * time.Second},
		{"QueueSize", c.QueueSize, 1024},
	} {
		if d.got != d.want {
			t.Errorf("Config default %s = %v, the README says %v", d.name, d.got, d.want)
		}
	}

	b := NewMemoryBroker(nil)
	defer func() { assert.NoError(t, b.Close()) }()
	if got := b.cfg.MaxHistoryBytes; got != 256<<20 {
		t.Errorf("MemoryConfig default MaxHistoryBytes = %d, the README says 256 MiB", got)
	}
	if got := b.cfg.MaxChannels; got != 100_000 {
		t.Errorf("MemoryConfig default MaxChannels = %d, the README says 100 000", got)
	}

	hs := NewHTTPServer(nil, quietLogger())
	if hs.ReadHeaderTimeout != 10*time.Second || hs.MaxHeaderBytes != 64<<10 {
		t.Errorf("NewHTTPServer: ReadHeaderTimeout %v, MaxHeaderBytes %d; the README says 10 s, 64 KiB", hs.ReadHeaderTimeout, hs.MaxHeaderBytes)
	}
	if hs.ReadTimeout != 0 || hs.WriteTimeout != 0 {
		t.Errorf("NewHTTPServer sets ReadTimeout %v, WriteTimeout %v: either would cut SSE streams off", hs.ReadTimeout, hs.WriteTimeout)
	}
}
