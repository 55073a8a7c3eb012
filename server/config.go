package server

import (
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"time"
)

// Defaults of Config's rate and connection limits; the other fields'
// defaults are set in withDefaults.
const (
	defaultPublishRate          = 200
	defaultPublishBurst         = 400
	defaultIdentityPublishRate  = 1000
	defaultIdentityPublishBurst = 2000

	defaultMaxConnections      = 10000
	defaultMaxConnectionsPerIP = 1000
	defaultIdleTimeout         = time.Minute
	defaultBodyTimeout         = 10 * time.Second
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
	// OriginPatterns lists extra origins allowed to open WebSockets
	// cross-origin, as path.Match patterns for scheme://host[:port]
	// ("https://*.example.com", "http://localhost:*"); a pattern without a
	// scheme ("*.example.com") admits https only. Same-origin (scheme, host
	// and port) is always allowed; anything else is refused with 403, which
	// stops cross-site WebSocket hijacking. Same-origin is the browser's
	// Sec-Fetch-Site; from browsers without it, the Origin is compared with
	// the request's scheme (TLS, or the X-Forwarded-Proto of a peer in
	// TrustedProxies), Host and port.
	OriginPatterns []string
	// Logger receives connection-level events. Defaults to slog.Default().
	Logger *slog.Logger

	// Who may do what (package auth has ready Authenticate hooks), and how
	// fast.

	// Authenticate finds who a request to /rt/sse, /rt/ws or /rt/publish
	// speaks for. An error refuses it: with its code when it is a
	// *shared.Error, else with 4401 (HTTP 401; on WebSocket, a close right
	// after the handshake, since browsers hide the HTTP status). A
	// connection is closed with 4401 when the identity's Expires passes.
	// Nil means every request is Anonymous(): no auth, every channel.
	Authenticate func(r *http.Request) (Identity, error)
	// Authorize decides whether id has perm on channel, on every
	// subscribe (resume included) and every publish; an error refuses with
	// its code when it is a *shared.Error, else with 4403. Nil means
	// id.Allows(perm, channel).
	Authorize func(id Identity, perm Permission, channel string) error
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

	// Limits on what clients may hold. Refusals happen before a stream
	// starts or a WebSocket is upgraded.

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
	if out.PublishRate == 0 {
		out.PublishRate = defaultPublishRate
	}
	if out.PublishBurst <= 0 {
		out.PublishBurst = max(defaultPublishBurst, int(math.Ceil(out.PublishRate)))
	}
	if out.IdentityPublishRate == 0 {
		out.IdentityPublishRate = defaultIdentityPublishRate
	}
	if out.IdentityPublishBurst <= 0 {
		out.IdentityPublishBurst = max(defaultIdentityPublishBurst, int(math.Ceil(out.IdentityPublishRate)))
	}
	if out.MaxConnections == 0 {
		out.MaxConnections = defaultMaxConnections
	}
	if out.MaxConnectionsPerIP == 0 {
		out.MaxConnectionsPerIP = defaultMaxConnectionsPerIP
	}
	if out.IdleTimeout == 0 {
		out.IdleTimeout = defaultIdleTimeout
	}
	if out.BodyTimeout == 0 {
		out.BodyTimeout = defaultBodyTimeout
	}
	return out
}
