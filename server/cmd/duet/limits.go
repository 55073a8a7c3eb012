package main

import (
	"flag"
	"fmt"

	"github.com/duet-rt/duet/server"
)

// limitFlags are the flags of the client limits added by issue 12: how IPv6
// clients are grouped, and the subscribe rate limits.
type limitFlags struct {
	ipv6Prefix            *int
	queueBytes            *int64
	subscribeRate         *float64
	identitySubscribeRate *float64
}

func (l *limitFlags) register(fs *flag.FlagSet) {
	l.ipv6Prefix = fs.Int("ipv6-prefix", 64, "prefix length grouping IPv6 client addresses for -max-conns-per-ip and the anonymous publish limit (1-128; 128: each address apart)")
	l.queueBytes = fs.Int64("queue-bytes", 16<<20, "bytes one connection's queue may hold, replays included (negative: no bound)")
	l.subscribeRate = fs.Float64("subscribe-rate", 20, "subscribe frames per second per WebSocket connection (negative: no limit)")
	l.identitySubscribeRate = fs.Float64("identity-subscribe-rate", 100, "subscribe frames and SSE requests per second per identity, anonymous ones per client address (negative: no limit)")
}

// apply sets the limits on cfg.
func (l *limitFlags) apply(cfg *server.Config) error {
	if *l.ipv6Prefix < 1 || *l.ipv6Prefix > 128 {
		return fmt.Errorf("-ipv6-prefix %d: want 1 to 128", *l.ipv6Prefix)
	}
	cfg.IPv6Prefix = *l.ipv6Prefix
	cfg.QueueBytes = *l.queueBytes
	cfg.SubscribeRate = *l.subscribeRate
	cfg.IdentitySubscribeRate = *l.identitySubscribeRate
	return nil
}
