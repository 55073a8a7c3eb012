package server

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
	"golang.org/x/time/rate"
)

// Defaults of the publish rate limits.
const (
	defaultPublishRate          = 200
	defaultPublishBurst         = 400
	defaultIdentityPublishRate  = 1000
	defaultIdentityPublishBurst = 2000
	// maxLimitedIdentities bounds the per-identity limiters kept at once.
	maxLimitedIdentities = 1 << 16
)

// guard holds what the hub needs to refuse requests: publish rate limits,
// the CORS origins and the cross-origin (CSRF) check of POST /rt/publish.
type guard struct {
	connRate  rate.Limit // 0: no per-connection limit
	connBurst int
	idRate    rate.Limit // 0: no per-identity limit
	idBurst   int

	mu        sync.Mutex               // guards ids and lastSweep
	ids       map[string]*rate.Limiter // per identity (or per IP when anonymous)
	lastSweep time.Time

	corsOrigins map[string]struct{}
	csrf        *http.CrossOriginProtection
	// wsOrigins are the host patterns allowed to open WebSockets
	// cross-origin: Config.OriginPatterns and the hosts of CORSOrigins.
	wsOrigins []string
}

// authDefaults fills in the defaults of the authentication and limit fields.
func (c *Config) authDefaults() {
	if c.PublishRate == 0 {
		c.PublishRate = defaultPublishRate
	}
	if c.PublishBurst <= 0 {
		c.PublishBurst = max(defaultPublishBurst, int(math.Ceil(c.PublishRate)))
	}
	if c.IdentityPublishRate == 0 {
		c.IdentityPublishRate = defaultIdentityPublishRate
	}
	if c.IdentityPublishBurst <= 0 {
		c.IdentityPublishBurst = max(defaultIdentityPublishBurst, int(math.Ceil(c.IdentityPublishRate)))
	}
}

func newGuard(c *Config) (*guard, error) {
	g := &guard{
		ids:         make(map[string]*rate.Limiter),
		wsOrigins:   slices.Clone(c.OriginPatterns),
		corsOrigins: make(map[string]struct{}),
		csrf:        http.NewCrossOriginProtection(),
	}
	if c.PublishRate > 0 {
		g.connRate, g.connBurst = rate.Limit(c.PublishRate), c.PublishBurst
	}
	if c.IdentityPublishRate > 0 {
		g.idRate, g.idBurst = rate.Limit(c.IdentityPublishRate), c.IdentityPublishBurst
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, errors.New("duet/server: CORSOrigins entry " + strconv.Quote(o) + " is not an origin like https://app.example.com")
		}
		origin := u.Scheme + "://" + u.Host
		g.corsOrigins[origin] = struct{}{}
		g.wsOrigins = append(g.wsOrigins, u.Host)
		if err := g.csrf.AddTrustedOrigin(origin); err != nil {
			return nil, errors.Join(errors.New("duet/server: CORSOrigins entry "+strconv.Quote(o)), err)
		}
	}
	return g, nil
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
	key  string // "sub:<subject>", or "ip:<host>" when anonymous
	who  string // the key in words, for error messages
}

func (g *guard) newPublisher(id *Identity, r *http.Request, conn bool) publisher {
	p := publisher{key: "sub:" + id.Subject, who: "identity " + quote(id.Subject)}
	if id.Subject == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		p.key, p.who = "ip:"+host, "the anonymous clients of "+host
	}
	if conn && g.connRate != 0 {
		p.conn = rate.NewLimiter(g.connRate, g.connBurst)
	}
	return p
}

// allowPublish takes one publish from p's connection limiter and from its
// identity's, or returns a *rateLimited.
func (g *guard) allowPublish(p *publisher) error {
	now := time.Now()
	var held *rate.Reservation
	if p.conn != nil {
		res := p.conn.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 || !res.OK() {
			res.CancelAt(now)
			return limitedError("this connection publishes more than "+ratePhrase(g.connRate), d)
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
		return limitedError(p.who+" publishes more than "+ratePhrase(g.idRate), d)
	}
	return nil
}

func limitedError(msg string, d time.Duration) error {
	return &rateLimited{
		err:        shared.NewError(shared.CodeRateLimited, "rate limited: "+msg+"; retry in "+strconv.FormatInt(max(d.Milliseconds(), 1), 10)+" ms"),
		retryAfter: d,
	}
}

func ratePhrase(l rate.Limit) string {
	return strconv.FormatFloat(float64(l), 'f', -1, 64) + " messages per second"
}

// identityLimiter returns key's limiter, or nil when too many are held. A
// limiter whose bucket is full again is the same as a new one, so those go
// when the map is full.
func (g *guard) identityLimiter(key string, now time.Time) *rate.Limiter {
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

// writeRefusal answers a refused HTTP request: a 401 names the scheme to
// use, a 429 says when to retry.
func writeRefusal(w http.ResponseWriter, err error) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		secs := int64(math.Ceil(rl.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	writeAuthError(w, protocolError(err))
}

// cors adds the CORS headers for an allowed cross-origin request to /rt/sse
// or /rt/publish (methods is what the endpoint serves) and answers its
// preflight. It reports whether it answered. With no CORSOrigins it does
// nothing: a preflight then gets the endpoint's 405.
func (h *Hub) cors(w http.ResponseWriter, r *http.Request, methods string) bool {
	if len(h.guard.corsOrigins) == 0 {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if _, ok := h.guard.corsOrigins[origin]; !ok || origin == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Set("Access-Control-Allow-Credentials", "true")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Methods", methods)
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// checkCrossOrigin refuses a publish posted by a page of another origin
// (cross-site request forgery riding on the user's cookies), unless that
// origin is one of CORSOrigins. Requests without Sec-Fetch-Site and Origin
// (not from a browser) pass.
func (h *Hub) checkCrossOrigin(r *http.Request) error {
	if err := h.guard.csrf.Check(r); err != nil {
		h.metrics.forbidden.Add(1)
		return shared.NewError(shared.CodeForbidden, "cross-origin publish refused (origin "+quote(r.Header.Get("Origin"))+" is not allowed): "+err.Error())
	}
	return nil
}
