package main

import (
	"flag"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
)

// stateFlags are the flags of history for clients (GET /rt/history) and of
// idempotent publish.
type stateFlags struct {
	idempotencyWindow time.Duration
	historyMaxLimit   int
}

func (f *stateFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.idempotencyWindow, "idempotency-window", 2*time.Minute, "how long a publish's Idempotency-Key is remembered: a repeat within it answers the first id (with -nats: the stream's duplicate window, at most -history-ttl)")
	fs.IntVar(&f.historyMaxLimit, "history-max-limit", 1000, "largest page of GET /rt/history and the history frame (limit); more is refused with 4400")
}

func (f *stateFlags) memory(c *server.MemoryConfig) { c.IdempotencyWindow = f.idempotencyWindow }

func (f *stateFlags) nats(c *natsbroker.Config) { c.IdempotencyWindow = f.idempotencyWindow }

func (f *stateFlags) hub(c *server.Config) { c.MaxHistoryLimit = f.historyMaxLimit }
