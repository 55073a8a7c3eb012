package natsbroker

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Broker. The zero value works: a NATS server on
// localhost:4222 and the in-memory broker's history limits. A nil *Config is
// accepted.
type Config struct {
	// URL is the NATS server to connect to; a comma-separated list for a
	// NATS cluster. Defaults to nats.DefaultURL (nats://127.0.0.1:4222).
	// Ignored when Conn is set.
	URL string
	// Options are extra options for the connection the broker makes
	// (credentials, TLS, a name). They come after the broker's own (reconnect
	// forever every 250ms or so, ping every 10s), so they win. Ignored when
	// Conn is set.
	Options []nats.Option
	// Conn is a connection to use instead of making one. The broker does not
	// close it. It should reconnect forever (nats.MaxReconnects(-1)): once
	// it is closed the broker cannot recover.
	Conn *nats.Conn

	// Stream is the JetStream stream's name. Defaults to "DUET".
	Stream string
	// SubjectPrefix is the subject prefix of channels: channel C is subject
	// "<prefix>.C" (escaped). Defaults to "duet.ch".
	SubjectPrefix string
	// HistorySize is how many messages each channel keeps for resume
	// (the stream's MaxMsgsPerSubject). Defaults to 1000. Negative means no
	// per-channel limit: HistoryTTL and HistoryBytes still apply.
	HistorySize int
	// HistoryTTL is how long a message is kept for resume (MaxAge). Defaults
	// to 10 minutes.
	HistoryTTL time.Duration
	// HistoryBytes caps the stream's size (MaxBytes); the oldest messages go
	// first. Defaults to 1 GiB. Negative means no limit.
	HistoryBytes int64
	// Storage is where the stream lives. Defaults to jetstream.FileStorage,
	// which survives NATS restarts; with MemoryStorage a NATS restart starts
	// a new epoch (clients then get a "restarted" gap notice).
	Storage jetstream.StorageType
	// Replicas is the stream's replication factor in a NATS cluster.
	// Defaults to 1.
	Replicas int

	// RequestTimeout bounds each request to JetStream: a publish and its
	// acknowledgement, each step of a replay. Defaults to 5s.
	RequestTimeout time.Duration
	// MaxReplay bounds the messages one resume reads and replays: past it
	// the oldest MaxReplay are replayed and the client is told to resume
	// from the last of them (server.Resume.Continue), as with the
	// in-memory broker. Defaults to 10000. Negative: no bound.
	MaxReplay int
	// CatchUpBuffer is how many live messages may wait for one subscriber
	// while its replay is read from the stream. Past it they are dropped and
	// read from the stream again. Defaults to 4096.
	CatchUpBuffer int
	// Heartbeat is the live feed's idle heartbeat: a feed that hears nothing
	// from NATS for two heartbeats starts over from its last message.
	// Defaults to 2s.
	Heartbeat time.Duration
	// IdempotencyWindow is the stream's duplicate window (Duplicates): a
	// keyed publish (PublishOnce) repeated within it, on any node, is
	// stored once. Defaults to 2 minutes; capped at HistoryTTL, as
	// JetStream requires. JetStream remembers the keys, not the node.
	IdempotencyWindow time.Duration
	// Logger receives the live feed's outages and recoveries. Defaults to
	// slog.Default().
	Logger *slog.Logger

	// Presence (the broker's PresenceStore; see the package documentation).

	// PresenceSubject is the subject prefix of the nodes' presence
	// traffic; it must lie outside SubjectPrefix. Defaults to
	// "duet.presence.<Stream>".
	PresenceSubject string
	// PresenceHeartbeat is how often a node tells the others it is alive.
	// Defaults to 3s.
	PresenceHeartbeat time.Duration
	// PresenceTimeout is how long a node may stay silent before the others
	// take it for dead: its clients then leave. A node killed without a
	// goodbye has its clients leave within PresenceTimeout plus one
	// PresenceHeartbeat. Defaults to 10s; raised to three heartbeats if
	// shorter.
	PresenceTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.URL == "" {
		out.URL = nats.DefaultURL
	}
	if out.Stream == "" {
		out.Stream = "DUET"
	}
	if out.SubjectPrefix == "" {
		out.SubjectPrefix = "duet.ch"
	}
	if out.HistorySize == 0 {
		out.HistorySize = 1000
	}
	if out.HistoryTTL <= 0 {
		out.HistoryTTL = 10 * time.Minute
	}
	if out.HistoryBytes == 0 {
		out.HistoryBytes = 1 << 30
	}
	if out.MaxReplay == 0 {
		out.MaxReplay = 10000
	}
	if out.IdempotencyWindow <= 0 {
		out.IdempotencyWindow = 2 * time.Minute
	}
	out.IdempotencyWindow = min(out.IdempotencyWindow, out.HistoryTTL)
	if out.Replicas <= 0 {
		out.Replicas = 1
	}
	if out.RequestTimeout <= 0 {
		out.RequestTimeout = 5 * time.Second
	}
	if out.CatchUpBuffer <= 0 {
		out.CatchUpBuffer = 4096
	}
	if out.Heartbeat <= 0 {
		out.Heartbeat = 2 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.PresenceSubject == "" {
		out.PresenceSubject = "duet.presence." + out.Stream
	}
	if out.PresenceHeartbeat <= 0 {
		out.PresenceHeartbeat = 3 * time.Second
	}
	if out.PresenceTimeout <= 0 {
		out.PresenceTimeout = 10 * time.Second
	}
	out.PresenceTimeout = max(out.PresenceTimeout, 3*out.PresenceHeartbeat)
	return out
}
