package main

import (
	"flag"

	"github.com/duet-rt/duet/server"
)

// presenceFlags are the command line's presence options.
type presenceFlags struct {
	channels, joinLeave         string
	maxClients, maxEntries, max int
}

func (f *presenceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.channels, "presence", demoPresence, "channel patterns with presence, listed by GET /rt/presence (comma-separated, as in -jwt-subscribe; empty: none)")
	fs.StringVar(&f.joinLeave, "join-leave", demoJoinLeave, "channel patterns whose subscribers also get join and leave events, which cost N² on big channels (comma-separated; empty: none)")
	fs.IntVar(&f.maxClients, "presence-max-clients", 10000, "most clients listed in one channel's presence; one more subscriber is refused with 4503 (negative: no limit)")
	fs.IntVar(&f.maxEntries, "presence-max-entries", 100000, "most presence entries of all channels together; one more is refused with 4503 (negative: no limit)")
	fs.IntVar(&f.max, "presence-max-info", 1024, "largest presence info in bytes (the \"info\" query parameter); a larger one is refused with 4413 (negative: no limit)")
}

func (f *presenceFlags) apply(cfg *server.Config) {
	cfg.PresenceChannels = splitList(f.channels)
	cfg.JoinLeaveChannels = splitList(f.joinLeave)
	cfg.MaxPresenceClients = f.maxClients
	cfg.MaxPresenceEntries = f.maxEntries
	cfg.MaxPresenceInfoBytes = f.max
}

// The demo's channels with presence (its home page counts the pages on
// "site:pages") and join/leave events, on by default so that the demo
// works as it starts.
const (
	demoPresence  = "chat:*,game:*,site:*"
	demoJoinLeave = "chat:*,game:*"
)
