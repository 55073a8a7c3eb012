package server

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
	"golang.org/x/time/rate"
)

// maxLimitedIdentities bounds the per-identity limiters kept at once.
const maxLimitedIdentities = 1 << 16

// rateLimits are the rate limits of one kind of request (publishes, or
// subscribes and SSE requests): per WebSocket connection, and per identity
// across all its connections and HTTP requests.
type rateLimits struct {
	what      string     // "publishes", "subscribes": for messages
	connRate  rate.Limit // 0: no per-connection limit
	connBurst int
	idRate    rate.Limit // 0: no per-identity limit
	idBurst   int

	// clientGroup is the client address group of a request
	// (connLimiter.clientGroup): anonymous publishers are counted by it.
	clientGroup func(*http.Request) netip.Prefix

	mu        sync.Mutex               // guards ids and lastSweep
	ids       map[string]*rate.Limiter // per identity (or per IP when anonymous)
	lastSweep time.Time
}

func newPublishLimits(c *Config, conns *connLimiter) *rateLimits {
	return newRateLimits("publishes", c.PublishRate, c.PublishBurst, c.IdentityPublishRate, c.IdentityPublishBurst, conns)
}

func newSubscribeLimits(c *Config, conns *connLimiter) *rateLimits {
	return newRateLimits("subscribes", c.SubscribeRate, c.SubscribeBurst, c.IdentitySubscribeRate, c.IdentitySubscribeBurst, conns)
}

// newRateLimits limits what; a rate ≤ 0 means no limit.
func newRateLimits(what string, connRate float64, connBurst int, idRate float64, idBurst int, conns *connLimiter) *rateLimits {
	g := &rateLimits{what: what, ids: make(map[string]*rate.Limiter), clientGroup: conns.clientGroup}
	if connRate > 0 {
		g.connRate, g.connBurst = rate.Limit(connRate), connBurst
	}
	if idRate > 0 {
		g.idRate, g.idBurst = rate.Limit(idRate), idBurst
	}
	return g
}

// rateLimited is a 4429 refusal, with how long to wait.
type rateLimited struct {
	err        *shared.Error
	retryAfter time.Duration
}

func (e *rateLimited) Error() string { return e.err.Error() }
func (e *rateLimited) Unwrap() error { return e.err }

// publisher is who publishes, for the rate limits: a connection's limiter
// (nil on HTTP, or with no per-connection limit), and the identity's key.
type publisher struct {
	conn *rate.Limiter
	key  string // "sub:<subject>", or "ip:<address or IPv6 prefix>" when anonymous
	who  string // the key in words, for error messages
}

func (g *rateLimits) newPublisher(id *Identity, r *http.Request, conn bool) publisher {
	p := publisher{key: "sub:" + id.Subject, who: "identity " + quote(id.Subject)}
	if id.Subject == "" {
		host := groupString(g.clientGroup(r))
		p.key, p.who = "ip:"+host, "the anonymous clients of "+host
	}
	if conn && g.connRate != 0 {
		p.conn = rate.NewLimiter(g.connRate, g.connBurst)
	}
	return p
}

// allow takes one request from p's connection limiter and from its
// identity's, or returns a *rateLimited.
func (g *rateLimits) allow(p *publisher) error {
	now := time.Now()
	var held *rate.Reservation
	if p.conn != nil {
		res := p.conn.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 || !res.OK() {
			res.CancelAt(now)
			return limitedError("this connection "+g.what+" more than "+ratePhrase(g.connRate, g.what), d)
		}
		held = res
	}
	if g.idRate == 0 {
		return nil
	}
	release := func() {
		if held != nil {
			held.CancelAt(now)
		}
	}
	lim := g.identityLimiter(p.key, now)
	if lim == nil {
		release()
		return limitedError("too many publishers at once", time.Second)
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 || !res.OK() {
		res.CancelAt(now)
		release()
		return limitedError(p.who+" "+g.what+" more than "+ratePhrase(g.idRate, g.what), d)
	}
	return nil
}

func limitedError(msg string, d time.Duration) error {
	return &rateLimited{
		err:        shared.NewError(shared.CodeRateLimited, "rate limited: "+msg+"; retry in "+strconv.FormatInt(max(d.Milliseconds(), 1), 10)+" ms"),
		retryAfter: d,
	}
}

func ratePhrase(l rate.Limit, what string) string {
	unit := " messages per second"
	if what != "publishes" {
		unit = " times per second"
	}
	return strconv.FormatFloat(float64(l), 'f', -1, 64) + unit
}

// identityLimiter returns key's limiter, or nil when too many are held. A
// limiter whose bucket is full again is the same as a new one, so those go
// when the map is full.
func (g *rateLimits) identityLimiter(key string, now time.Time) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if lim, ok := g.ids[key]; ok {
		return lim
	}
	if len(g.ids) >= maxLimitedIdentities {
		if now.Sub(g.lastSweep) < time.Second {
			return nil // swept a moment ago: do not pay for it on every publish
		}
		g.lastSweep = now
		for k, lim := range g.ids {
			if lim.TokensAt(now) >= float64(g.idBurst) {
				delete(g.ids, k)
			}
		}
		if len(g.ids) >= maxLimitedIdentities {
			return nil
		}
	}
	lim := rate.NewLimiter(g.idRate, g.idBurst)
	g.ids[key] = lim
	return lim
}
