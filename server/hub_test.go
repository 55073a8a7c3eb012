package server

import (
	"context"
	"testing"
	"time"
)

// TestNewHub: the zero config works; a config the hub cannot honour is
// refused without leaving anything running (TestMain's leak check sees a
// broker janitor left behind).
func TestNewHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  *Config
		ok   bool
	}{
		{"nil config", nil, true},
		{"zero config", &Config{}, true},
		{"short heartbeat, default write timeout", &Config{Heartbeat: time.Second}, false},
		{"write timeout of ten heartbeats", &Config{Heartbeat: time.Second, WriteTimeout: 10 * time.Second}, false},
		{"write timeout just under ten heartbeats", &Config{Heartbeat: time.Second, WriteTimeout: 9 * time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHub(tt.cfg)
			if !tt.ok {
				assertTrue(t, "refused", err != nil && h == nil)
				assertContains(t, "error prefix", err.Error(), "duet/server: ")
				return
			}
			assertSuccess(t, err)
			assertSuccess(t, h.Broker().Healthy())
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			assertSuccess(t, h.Shutdown(ctx)) // closes the broker it made
		})
	}
}

// TestConfigDefaults: each documented default.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := (*Config)(nil).withDefaults()
	assertEqual(t, "Heartbeat", 15*time.Second, c.Heartbeat)
	assertEqual(t, "WriteTimeout", 10*time.Second, c.WriteTimeout)
	assertEqual(t, "QueueSize", 1024, c.QueueSize)
	assertEqual(t, "MaxChannels", 64, c.MaxChannels)
	assertEqual(t, "MaxFrameBytes", int64(64<<10), c.MaxFrameBytes)
	assertEqual(t, "MaxPublishBytes", int64(64<<10), c.MaxPublishBytes)
	assertEqual(t, "MaxBatchBytes", 64<<10, c.MaxBatchBytes)
	assertEqual(t, "SSERetry", time.Second, c.SSERetry)
	assertTrue(t, "Logger", c.Logger != nil)
}
