package main

import (
	"flag"
	"time"

	"github.com/duet-rt/duet/server"
)

// perfFlags are the throughput knobs of bin/duet.
type perfFlags struct {
	writeDelay time.Duration
}

func (f *perfFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.writeDelay, "write-delay", 0, "wait this long before each write to a client so more messages share one write (e.g. 2ms; 0: write at once); see server.Config.WriteDelay")
}

func (f *perfFlags) apply(cfg *server.Config) {
	cfg.WriteDelay = f.writeDelay
}
