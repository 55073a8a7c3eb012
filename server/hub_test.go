package server

import (
	"context"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
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
				assert.True(t, "refused", err != nil && h == nil)
				assert.Contains(t, "error prefix", err.Error(), "duet/server: ")
				return
			}
			assert.NoError(t, err)
			assert.NoError(t, h.Broker().Healthy())
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			assert.NoError(t, h.Shutdown(ctx)) // closes the broker it made
		})
	}
}

// TestConfigDefaults: each documented default.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := (*Config)(nil).withDefaults()
	assert.Equal(t, "Heartbeat", c.Heartbeat, 15*time.Second)
	assert.Equal(t, "WriteTimeout", c.WriteTimeout, 10*time.Second)
	assert.Equal(t, "QueueSize", c.QueueSize, 1024)
	assert.Equal(t, "MaxChannels", c.MaxChannels, 64)
	assert.Equal(t, "MaxFrameBytes", c.MaxFrameBytes, int64(64<<10))
	assert.Equal(t, "MaxPublishBytes", c.MaxPublishBytes, int64(64<<10))
	assert.Equal(t, "MaxBatchBytes", c.MaxBatchBytes, 64<<10)
	assert.Equal(t, "SSERetry", c.SSERetry, time.Second)
	assert.True(t, "Logger", c.Logger != nil)
}
