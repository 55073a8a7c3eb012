package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/duet-rt/duet/server"
)

// grants are the channel patterns bin/duet's flags give to identities
// whose credentials name none: tokens without a "subscribe" or "publish"
// claim (-jwt-subscribe, -jwt-publish) and requests without a token
// (-anonymous-subscribe, -anonymous-publish). Each defaults to none: least
// privilege, as the library's default is.
type grants struct {
	log *slog.Logger

	mu     sync.Mutex // guards logged
	logged map[string]time.Time
}

// grantLogEvery is how often a refusal for want of a flag is logged, per
// flag: the 403 says it every time, the log often enough to be noticed.
const grantLogEvery = time.Minute

// checkPatterns refuses at startup a pattern flag that could never match.
func checkPatterns(flag string, patterns []string) error {
	for _, p := range patterns {
		if err := server.CheckPattern(p); err != nil {
			return fmt.Errorf("-%s: %w", flag, err)
		}
	}
	return nil
}

// authorize is server.Config.Authorize: the identity's patterns decide,
// as by default, and a refusal of an identity that got its patterns from
// no one — a token without the claim, an anonymous request — names the flag
// that grants them.
func (g *grants) authorize(id server.Identity, perm server.Permission, channel string) error {
	if id.Allows(perm, channel) {
		return nil
	}
	claim, patterns := "subscribe", id.Subscribe
	if perm == server.PermissionPublish {
		claim, patterns = "publish", id.Publish
	}
	if len(patterns) > 0 {
		return errors.New("none of its patterns allows it")
	}
	var flag, why string
	if _, ok := id.Claims[claim]; id.Claims != nil && !ok {
		flag, why = "jwt-"+claim, "its token has no \""+claim+"\" claim"
	} else if id.Claims == nil && id.Subject == "" {
		flag, why = "anonymous-"+claim, "requests without a token"
	} else {
		return errors.New("it holds no " + claim + " pattern")
	}
	g.note(flag, why)
	return errors.New(why + " and bin/duet grants none unless -" + flag + " names channel patterns")
}

// note logs, at most once per grantLogEvery per flag, that a request was
// refused for want of it.
func (g *grants) note(flag, why string) {
	g.mu.Lock()
	now := time.Now()
	due := now.Sub(g.logged[flag]) >= grantLogEvery
	if due {
		if g.logged == nil {
			g.logged = make(map[string]time.Time)
		}
		g.logged[flag] = now
	}
	g.mu.Unlock()
	if due {
		g.log.Warn("duet: refused a request whose credentials grant no channels: "+why+"; -"+flag+" grants channel patterns to such requests", "flag", "-"+flag)
	}
}
