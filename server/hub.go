package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Config configures a Hub. The zero value works; a nil *Config is accepted.
type Config struct {
	// Broker stores and routes messages. Defaults to a MemoryBroker with
	// default settings, which the hub closes on Shutdown. A broker passed in
	// is not closed by the hub.
	Broker Broker

	// Heartbeat is how often an idle connection gets a heartbeat: an SSE
	// comment, or a WebSocket ping frame plus a protocol-level ping that the
	// client must answer within WriteTimeout. A client that stops reading is
	// detected within Heartbeat+WriteTimeout. Defaults to 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds every write to a client and every WebSocket pong.
	// Defaults to 10s.
	WriteTimeout time.Duration
	// QueueSize is how many messages and replies may wait for one
	// connection's writer. A client that falls further behind is disconnected
	// with shared.CodeSlowConsumer and resumes from its last id. Defaults to
	// 1024.
	QueueSize int
	// MaxChannels is how many channels one connection may subscribe to.
	// Defaults to 64.
	MaxChannels int
	// MaxFrameBytes is the largest WebSocket frame a client may send; a larger
	// one closes the connection with 1009 (message too big). Defaults to
	// 64 KiB.
	MaxFrameBytes int64
	// MaxPublishBytes is the largest POST /rt/publish body. Defaults to 64 KiB.
	MaxPublishBytes int64
	// MaxBatchBytes is the size past which a writer stops adding messages to
	// one write (one WebSocket frame, one SSE flush). Defaults to 64 KiB.
	MaxBatchBytes int
	// SSERetry is the reconnection delay sent to EventSource clients in the
	// "retry" field; each connection gets a value jittered in [SSERetry/2,
	// SSERetry·3/2) so that clients of a crashed node come back spread out.
	// Defaults to 1s.
	SSERetry time.Duration
	// OriginPatterns lists extra host patterns (path.Match syntax, e.g.
	// "*.example.com") allowed to open WebSockets cross-origin. Same-origin is
	// always allowed; anything else is refused, which stops cross-site
	// WebSocket hijacking.
	OriginPatterns []string
	// Logger receives connection-level events. Defaults to slog.Default().
	Logger *slog.Logger

	// Who may do what (authz.go, authz_guard.go; package auth has ready
	// Authenticate hooks).

	// Authenticate finds who a request to /rt/sse, /rt/ws or /rt/publish
	// speaks for. An error refuses it: with its code when it is a
	// *shared.Error, else with 4401 (HTTP 401; on WebSocket, a close right
	// after the handshake, since browsers hide the HTTP status). A
	// connection is closed with 4401 when the identity's Expires passes.
	// Nil means every request is Anonymous(): no auth, every channel.
	Authenticate func(r *http.Request) (Identity, error)
	// Authorize decides whether id may do action on channel, on every
	// subscribe (resume included) and every publish; an error refuses with
	// its code when it is a *shared.Error, else with 4403. Nil means
	// id.Allows(action, channel).
	Authorize func(id Identity, action Action, channel string) error
	// PublishRate is how many publishes per second one WebSocket connection
	// may make, in bursts of up to PublishBurst; more are refused with 4429.
	// Defaults to 200 per second, bursts of 400. Negative disables.
	PublishRate  float64
	PublishBurst int
	// IdentityPublishRate and IdentityPublishBurst limit the publishes of
	// one identity (by Subject; anonymous ones by the request's RemoteAddr
	// host, which behind a reverse proxy is the proxy's: all anonymous
	// clients then share one budget) across all its connections and POST
	// /rt/publish; a refused POST gets 429 with Retry-After. Defaults to
	// 1000 per second, bursts of 2000. Negative disables.
	IdentityPublishRate  float64
	IdentityPublishBurst int
	// CORSOrigins lists the origins ("https://app.example.com") whose pages
	// may use /rt/sse and /rt/publish cross-origin, cookies included;
	// preflights are answered for them, and their hosts may open WebSockets
	// as if listed in OriginPatterns. Empty (the default) means no CORS:
	// same-origin only. Cross-origin publishes from other origins are
	// refused (4403) whatever the CORS headers, against request forgery.
	CORSOrigins []string

	// Limits on what clients may hold (limits.go). Refusals happen before a
	// stream starts or a WebSocket is upgraded.

	// MaxConnections caps the open SSE and WebSocket connections of the
	// hub; one more is refused with 503 (code 4503). Defaults to 10000.
	// Negative: no limit.
	MaxConnections int
	// MaxConnectionsPerIP caps the open connections of one client address;
	// one more is refused with 429 (code 4429). Defaults to 1000 (clients
	// behind one NAT share an address). Negative: no limit.
	MaxConnectionsPerIP int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client for MaxConnectionsPerIP. Empty (the default): the
	// TCP peer is the client and the header is ignored, since anyone can
	// send it.
	TrustedProxies []netip.Prefix
	// IdleTimeout closes a WebSocket that holds no channel and has sent no
	// frame for this long, with code 4004 (reconnect when needed). Defaults
	// to 1 minute. Negative disables it.
	IdleTimeout time.Duration
	// BodyTimeout bounds how long a POST /rt/publish body may take to
	// arrive. Defaults to 10s. Negative disables it.
	BodyTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&out.Heartbeat, 15*time.Second)
	def(&out.WriteTimeout, 10*time.Second)
	def(&out.SSERetry, time.Second)
	if out.QueueSize <= 0 {
		out.QueueSize = 1024
	}
	if out.MaxChannels <= 0 {
		out.MaxChannels = 64
	}
	if out.MaxFrameBytes <= 0 {
		out.MaxFrameBytes = 64 << 10
	}
	if out.MaxPublishBytes <= 0 {
		out.MaxPublishBytes = 64 << 10
	}
	if out.MaxBatchBytes <= 0 {
		out.MaxBatchBytes = 64 << 10
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	out.authDefaults()
	limitDefaults(&out)
	return out
}

// Hub serves Duet's realtime endpoints over one Broker.
type Hub struct {
	cfg       Config
	broker    Broker
	ownBroker bool
	metrics   metrics
	guard     *guard // authentication, limits, CORS
	limits    *connLimiter
	beats     heartbeats // every connection's heartbeat, from one goroutine

	mu      sync.Mutex // guards conns and closing
	conns   map[*conn]struct{}
	closing bool
	idle    *sync.Cond // signalled when conns shrinks
}

// conn is one live SSE or WebSocket connection, as the hub tracks it.
type conn struct {
	wire   string
	cancel context.CancelCauseFunc
	// atEnd holds what to undo when the connection ends (a connection
	// slot, a credential-expiry timer, an observer's goodbye): connections
	// outlive their handlers, so defers in the handler cannot do it.
	atEnd []func()
}

// onEnd adds f to what unregister runs.
func (c *conn) onEnd(f func()) { c.atEnd = append(c.atEnd, f) }

// errShutdown is the cancellation cause of connections ended by Shutdown.
var errShutdown = errors.New("duet/server: hub is shutting down")

// NewHub returns a Hub. It fails only on a configuration it cannot honour.
func NewHub(cfg *Config) (*Hub, error) {
	c := cfg.withDefaults()
	// Validate before making a broker: a refused config must not leave a
	// broker's janitor goroutine running.
	if c.WriteTimeout >= c.Heartbeat*10 {
		return nil, errors.New("duet/server: WriteTimeout must be shorter than ten heartbeats")
	}
	g, err := newGuard(&c)
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: c, broker: c.Broker, conns: make(map[*conn]struct{}), guard: g, limits: newConnLimiter(&c)}
	h.idle = sync.NewCond(&h.mu)
	if h.broker == nil {
		h.broker = NewMemoryBroker(nil)
		h.ownBroker = true
	}
	return h, nil
}

// Broker returns the hub's broker.
func (h *Hub) Broker() Broker { return h.broker }

// Handler returns a handler for every Duet endpoint: /rt/sse, /rt/ws,
// /rt/publish, /rt/healthz and /metrics. Mount it at the root of a mux (or
// mount the individual handlers wherever you like).
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rt/sse", h.SSEHandler())
	mux.Handle("/rt/ws", h.WSHandler())
	mux.Handle("/rt/publish", h.PublishHandler())
	mux.Handle("/rt/healthz", h.HealthHandler())
	mux.Handle("/metrics", h.MetricsHandler())
	return mux
}

// Publish publishes data (a JSON value) to channel as event ("" means
// "message") and returns the message's id once the broker has stored it.
func (h *Hub) Publish(ctx context.Context, channel, event string, data []byte) (shared.ID, error) {
	m, err := h.publish(ctx, channel, event, data)
	if err != nil {
		return shared.ID{}, err
	}
	return m.ID, nil
}

// PublishJSON is Publish with v marshalled by encoding/json.
func (h *Hub) PublishJSON(ctx context.Context, channel, event string, v any) (shared.ID, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return shared.ID{}, errors.Join(errors.New("duet/server: cannot marshal data"), err)
	}
	return h.Publish(ctx, channel, event, data)
}

// checkPublish checks what every publish must satisfy, JSON or binary.
func (h *Hub) checkPublish(channel, event string, data []byte) error {
	if err := shared.ValidateChannel(channel); err != nil {
		return err
	}
	if err := shared.ValidateEvent(event); err != nil {
		return err
	}
	if int64(len(data)) > h.cfg.MaxPublishBytes {
		return shared.NewError(shared.CodeTooLarge, "data is over the limit of "+itoa(h.cfg.MaxPublishBytes)+" bytes")
	}
	return nil
}

func (h *Hub) publish(ctx context.Context, channel, event string, data []byte) (*Message, error) {
	if err := h.checkPublish(channel, event, data); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, shared.NewError(shared.CodeBadRequest, "data is missing: send a JSON value (null is fine)")
	}
	if !shared.ValidJSON(data) {
		return nil, shared.NewError(shared.CodeBadRequest, "data is not a valid JSON value")
	}
	if event == "" {
		event = shared.DefaultEvent
	}
	// Own the bytes: data may alias a whole WebSocket read buffer (or a
	// caller's reused buffer), which history would otherwise keep alive.
	data = bytes.Clone(data)
	m, err := h.broker.Publish(ctx, channel, event, data)
	if err != nil {
		return nil, err
	}
	h.metrics.published.Add(1)
	return m, nil
}

// register tracks a new connection; it fails once Shutdown has begun.
func (h *Hub) register(parent context.Context, wire string) (*conn, context.Context, error) {
	ctx, cancel := context.WithCancelCause(parent)
	c := &conn{wire: wire, cancel: cancel}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		cancel(errShutdown)
		return nil, nil, shared.NewError(shared.CodeShutdown, "the server is shutting down; retry on another node or in a moment")
	}
	h.conns[c] = struct{}{}
	h.metrics.connect(wire)
	c.observe(parent)
	return c, ctx, nil
}

func (h *Hub) unregister(c *conn) {
	c.cancel(nil)
	for i := len(c.atEnd) - 1; i >= 0; i-- {
		c.atEnd[i]()
	}
	h.mu.Lock()
	delete(h.conns, c)
	h.metrics.disconnect(c.wire)
	if len(h.conns) == 0 {
		h.idle.Broadcast()
	}
	h.mu.Unlock()
}

// Shutdown refuses new connections, tells every client to reconnect
// elsewhere (shared.CodeShutdown) and waits until their connections are
// closed or ctx ends. Then it closes the broker if the hub created it.
// Call it before http.Server.Shutdown, which does not wait for hijacked
// connections (WebSockets, HTTP/1.1 SSE streams) and would wait for the
// SSE streams it still serves (HTTP/2) forever.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	for c := range h.conns {
		c.cancel(errShutdown)
	}
	done := make(chan struct{})
	go func() {
		h.mu.Lock()
		for len(h.conns) > 0 {
			h.idle.Wait()
		}
		h.mu.Unlock()
		close(done)
	}()
	h.mu.Unlock()

	var err error
	select {
	case <-done:
	case <-ctx.Done():
		// The waiter outlives us until the remaining connections finish;
		// their write deadlines bound how long that takes.
		err = ctx.Err()
	}
	if h.ownBroker {
		if cerr := h.broker.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// HealthHandler answers 200 while the hub and its broker serve, 503 after.
func (h *Hub) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseMethod(w, r) {
			return
		}
		h.mu.Lock()
		closing := h.closing
		h.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		if closing {
			writeError(w, shared.NewError(shared.CodeShutdown, "shutting down"))
			return
		}
		if err := h.broker.Healthy(); err != nil {
			writeError(w, shared.NewError(shared.CodeBrokerUnavailable, err.Error()))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","head":"` + h.broker.Head().String() + `"}` + "\n"))
	})
}

// refuseMethod answers 405 (with Allow) to anything but GET and HEAD, as
// the read-only endpoints (healthz, metrics) must, and reports whether it
// did.
func refuseMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeErrorStatus(w, http.StatusMethodNotAllowed, shared.NewError(shared.CodeBadRequest, "method "+r.Method+" not allowed: use GET"))
	return true
}

// protocolError maps any error to the code and message a client is told.
func protocolError(err error) *shared.Error {
	var e *shared.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrFutureID):
		return shared.NewError(shared.CodeBadID, "lastEventId is from the future: this server never issued it")
	case errors.Is(err, ErrBrokerClosed):
		return shared.NewError(shared.CodeShutdown, "the server is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return shared.NewError(shared.CodeTryAgainLater, "request cancelled or timed out")
	}
	return shared.NewError(shared.CodeInternal, "internal error")
}

// writeError writes a failed HTTP response: the code's status and a JSON
// body {"code":N,"message":"…"}.
func writeError(w http.ResponseWriter, e *shared.Error) {
	writeErrorStatus(w, e.Code.HTTPStatus(), e)
}

// parseChannels validates a connection's requested channels: each name,
// duplicates removed, at least one, at most max in all (have counts those
// the connection already holds).
func parseChannels(names []string, have, limit int) ([]string, error) {
	if len(names) == 0 {
		return nil, shared.NewError(shared.CodeBadChannel, "no channel given: name at least one")
	}
	if have+len(names) > limit*2 { // refuse huge requests before looking at them
		return nil, shared.NewError(shared.CodeTooManyChannels, "too many channels: the limit is "+itoa(int64(limit))+" per connection")
	}
	seen := make(map[string]struct{}, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := shared.ValidateChannel(n); err != nil {
			return nil, err
		}
		if _, dup := seen[n]; dup {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	if have+len(out) > limit {
		return nil, shared.NewError(shared.CodeTooManyChannels, "too many channels: the limit is "+itoa(int64(limit))+" per connection")
	}
	return out, nil
}

// parseResumeID parses a client's lastEventId; "" means "no resume".
func parseResumeID(s string) (shared.ID, error) {
	if s == "" {
		return shared.ID{}, nil
	}
	id, err := shared.ParseID(s)
	if err != nil {
		return shared.ID{}, shared.NewError(shared.CodeBadID, err.Error())
	}
	return id, nil
}
