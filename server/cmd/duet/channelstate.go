package main

import (
	"flag"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
)

// stateFlags are the flags of history for clients (GET /rt/history), of
// replay on resume, and of idempotent publish.
type stateFlags struct {
	idempotencyWindow time.Duration
	historyMaxLimit   int
	maxReplay         int
}

func (f *stateFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.idempotencyWindow, "idempotency-window", 2*time.Minute, "how long a publish's Idempotency-Key is remembered: a repeat within it answers the first id (with -nats: the stream's duplicate window, at most -history-ttl)")
	fs.IntVar(&f.historyMaxLimit, "history-max-limit", 1000, "largest page of GET /rt/history and the history frame (limit); more is refused with 4400")
	fs.IntVar(&f.maxReplay, "max-replay", 10000, "most messages one resume replays; past it the connection ends with 4005 and the id to resume from, and the client continues on a new one (0: the default; negative: no bound)")
}

func (f *stateFlags) memory(c *server.MemoryConfig) {
	c.IdempotencyWindow, c.MaxReplay = f.idempotencyWindow, f.maxReplay
}

func (f *stateFlags) nats(c *natsbroker.Config) {
	c.IdempotencyWindow, c.MaxReplay = f.idempotencyWindow, f.maxReplay
}

func (f *stateFlags) hub(c *server.Config) { c.MaxHistoryLimit = f.historyMaxLimit }
