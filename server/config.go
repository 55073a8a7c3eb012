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

	defaultSubscribeRate          = 20
	defaultSubscribeBurst         = 100
	defaultIdentitySubscribeRate  = 100
	defaultIdentitySubscribeBurst = 400
	defaultQueueBytes             = 16 << 20

	defaultMaxConnections      = 10000
	defaultMaxConnectionsPerIP = 1000
	defaultIdleTimeout         = time.Minute
	defaultBodyTimeout         = 10 * time.Second
	defaultIPv6Prefix          = 64
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
	// QueueBytes bounds the bytes one connection's queue holds: queued
	// messages and replays (each message counted with its encodings) and
	// replies. A client past it is disconnected like one past QueueSize;
	// a resume's replay that does not fit is cut short and the client told
	// to resume after its last message (shared.CodeReplayLimit). Defaults
	// to 16 MiB. Negative: no bound.
	QueueBytes int64
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
	// WriteDelay spaces a connection's writes at least this far apart:
	// what arrives sooner after a write waits, and goes out with whatever
	// else arrives meanwhile in one write (one system call, one WebSocket
	// frame), like Centrifugo's write_delay. A connection written to less
	// often than that never waits. It trades up to WriteDelay of latency
	// for fewer system calls per message: worth it when connections get
	// many messages per second each (a busy channel fanned out to
	// thousands) and the server's CPU is the limit. Zero (the default)
	// writes at once. At most 1s, and shorter than WriteTimeout.
	WriteDelay time.Duration
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
	// one identity (by Subject; anonymous ones by client address, as
	// MaxConnectionsPerIP counts them: TrustedProxies and IPv6Prefix apply)
	// across all its connections and POST
	// /rt/publish; a refused POST gets 429 with Retry-After. Defaults to
	// 1000 per second, bursts of 2000. Negative disables.
	IdentityPublishRate  float64
	IdentityPublishBurst int
	// SubscribeRate is how many subscribe frames per second one WebSocket
	// connection may send, in bursts of up to SubscribeBurst; more are
	// answered with an error frame 4429 (a resume costs a replay, so it is
	// limited like a publish). Defaults to 20 per second, bursts of 100.
	// Negative disables.
	SubscribeRate  float64
	SubscribeBurst int
	// IdentitySubscribeRate and IdentitySubscribeBurst limit the subscribe
	// frames and SSE requests of one identity (anonymous ones by client
	// address, as for IdentityPublishRate) across all its connections; an
	// SSE request past it gets a 200 stream that only says to retry later
	// (duet.close 4429 and a retry field), which a native EventSource
	// follows. Defaults to 100 per second, bursts of 400. Negative
	// disables.
	IdentitySubscribeRate  float64
	IdentitySubscribeBurst int
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
	// IPv6Prefix is the prefix length by which IPv6 client addresses are
	// grouped for MaxConnectionsPerIP and the anonymous publish limit: one
	// host commonly holds a whole /64, so limits per /128 would not limit
	// it. IPv4 addresses count one by one. Defaults to 64; 1–128 (128:
	// each address apart; larger values mean 128).
	IPv6Prefix int
	// IdleTimeout closes a WebSocket that holds no channel and has sent no
	// frame for this long, with code 4004 (reconnect when needed). Defaults
	// to 1 minute. Negative disables it.
	IdleTimeout time.Duration
	// BodyTimeout bounds how long a POST /rt/publish body may take to
	// arrive. Defaults to 10s. Negative disables it.
	BodyTimeout time.Duration

	// Presence: who is in which channel (GET /rt/presence, the WebSocket
	// presence and presence_stats frames), and join/leave events.

	// PresenceChannels are the channel patterns (MatchChannel syntax,
	// without "{sub}") whose subscribers are listed in presence. Empty (the
	// default): no channel has presence; asking for it is refused with 4422.
	PresenceChannels []string
	// JoinLeaveChannels are the channel patterns whose subscribers also get
	// join and leave events (and that have presence). They cost one event
	// per subscriber per join: N² on a big channel. Empty (the default):
	// none.
	JoinLeaveChannels []string
	// MaxPresenceClients caps the clients listed in one channel; a
	// subscribe past it is refused with 4503. Defaults to 10000. Negative:
	// no limit.
	MaxPresenceClients int
	// MaxPresenceEntries caps the presence entries of all channels
	// together (cluster-wide with a cluster store); a subscribe past it is
	// refused with 4503. Defaults to 100000. Negative: no limit.
	MaxPresenceEntries int
	// MaxPresenceInfoBytes caps a client's presence info (Identity.Info, or
	// the "info" query parameter of /rt/sse and /rt/ws); a larger one
	// refuses the connection with 4413. Defaults to 1024. Negative: no
	// limit.
	MaxPresenceInfoBytes int
	// Presence stores presence. Defaults to the broker's store when it is
	// a PresenceProvider (natsbroker.Broker: cluster-wide), else to a
	// MemoryPresence.
	Presence PresenceStore

	// MaxHistoryLimit is the largest page of history a client may ask for
	// (GET /rt/history's and the history frame's limit); a larger limit is
	// refused with 4400. Defaults to 1000.
	MaxHistoryLimit int

	// AdminKey turns on the admin API under /rt/admin/ (Hub.AdminHandler):
	// requests must carry "Authorization: Bearer <AdminKey>". Empty (the
	// default): Handler serves no admin API and AdminHandler refuses
	// everything. At least 16 bytes.
	AdminKey string
	// MaxAdminBytes bounds an admin request's body; more is refused with
	// 413 / 4413. Defaults to 1 MiB.
	MaxAdminBytes int64
	// MaxBroadcastChannels bounds the channels of one Broadcast; more are
	// refused with 4423. Defaults to 1000.
	MaxBroadcastChannels int
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
	defRate(&out.PublishRate, &out.PublishBurst, defaultPublishRate, defaultPublishBurst)
	defRate(&out.IdentityPublishRate, &out.IdentityPublishBurst, defaultIdentityPublishRate, defaultIdentityPublishBurst)
	defRate(&out.SubscribeRate, &out.SubscribeBurst, defaultSubscribeRate, defaultSubscribeBurst)
	defRate(&out.IdentitySubscribeRate, &out.IdentitySubscribeBurst, defaultIdentitySubscribeRate, defaultIdentitySubscribeBurst)
	if out.QueueBytes == 0 {
		out.QueueBytes = defaultQueueBytes
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
	if out.IPv6Prefix <= 0 {
		out.IPv6Prefix = defaultIPv6Prefix
	}
	out.IPv6Prefix = min(out.IPv6Prefix, 128)
	if out.BodyTimeout == 0 {
		out.BodyTimeout = defaultBodyTimeout
	}
	for _, d := range []struct {
		field *int
		value int
	}{
		{&out.MaxPresenceClients, defaultMaxPresenceClients},
		{&out.MaxPresenceEntries, defaultMaxPresenceEntries},
		{&out.MaxPresenceInfoBytes, defaultMaxPresenceInfoBytes},
	} {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	if out.MaxHistoryLimit <= 0 {
		out.MaxHistoryLimit = defaultMaxHistoryLimit
	}
	if out.MaxAdminBytes <= 0 {
		out.MaxAdminBytes = 1 << 20
	}
	if out.MaxBroadcastChannels <= 0 {
		out.MaxBroadcastChannels = 1000
	}
	return out
}

// defRate fills a rate limit's defaults: the rate when zero, and the burst
// when not positive (at least one second's worth of the rate).
func defRate(rate *float64, burst *int, defRate float64, defBurst int) {
	if *rate == 0 {
		*rate = defRate
	}
	if *burst <= 0 {
		*burst = max(defBurst, int(math.Ceil(*rate)))
	}
}
