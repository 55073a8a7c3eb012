package main

import (
	"flag"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/duet-rt/duet/shared/assert"
)

// The channel-state flags reach both brokers' configurations: -max-replay
// (10,000 by default, as the brokers' own default) and -idempotency-window.
func TestStateFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{{nil, 10000}, {[]string{"-max-replay", "3"}, 3}, {[]string{"-max-replay", "-1"}, -1}} {
		fs := flag.NewFlagSet("duet", flag.ContinueOnError)
		var sf stateFlags
		sf.register(fs)
		assert.NoError(t, fs.Parse(append(tt.args, "-idempotency-window", "7s")))
		var mc server.MemoryConfig
		sf.memory(&mc)
		var nc natsbroker.Config
		sf.nats(&nc)
		assert.Equal(t, "memory MaxReplay", mc.MaxReplay, tt.want)
		assert.Equal(t, "NATS MaxReplay", nc.MaxReplay, tt.want)
		assert.Equal(t, "memory idempotency window", mc.IdempotencyWindow.String(), "7s")
		assert.Equal(t, "NATS idempotency window", nc.IdempotencyWindow.String(), "7s")
	}
}
