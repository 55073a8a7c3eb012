package transport

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Options are what a caller sets on a connection: a [Conn]'s, or the one a
// [Client] leads. A nil *Options is the zero value, which works: auto mode,
// no channels, the default backoff and timeouts.
type Options struct {
	// Mode picks the wires. Defaults to ModeAuto.
	Mode Mode
	// Channels are subscribed from the start. Each must pass
	// shared.ValidateChannel.
	Channels []string
	// LastEventID resumes after this id from the start. Empty means live
	// messages only.
	LastEventID string
	// Backoff paces reconnects. The zero value is shared.Backoff's defaults.
	Backoff shared.Backoff
	// HeartbeatTimeout is how long the connection may stay silent before it
	// is presumed dead and replaced. Defaults to 2.5 times the heartbeat the
	// server announces in its hello (15s when it announces none).
	HeartbeatTimeout time.Duration
	// ConnectTimeout bounds an attempt, from dialing to the server's hello.
	// Defaults to 10s.
	ConnectTimeout time.Duration
	// PublishTimeout bounds a publish, from the call to the server's ack,
	// waiting for a connection included. Defaults to 30s.
	PublishTimeout time.Duration
	// WSRetryAfter is, in auto mode, how long to stay on SSE after a
	// WebSocket failed to open while SSE worked, before trying WebSocket
	// again (alongside the SSE stream, switching over only once it works).
	// It doubles on each new failure, up to 32 times. Defaults to 1 minute.
	WSRetryAfter time.Duration
	// MaxQueue bounds the publishes waiting for a connection. Defaults to
	// 1000; a publish over it fails at once.
	MaxQueue int
	// Info is the client's presence info, JSON (PROTOCOL.md §9.1), sent
	// with every stream; the server may replace it with the identity's.
	// Empty: none.
	Info string
}

const (
	defaultHeartbeat      = 15 * time.Second
	defaultConnectTimeout = 10 * time.Second
	defaultPublishTimeout = 30 * time.Second
	defaultWSRetryAfter   = time.Minute
	defaultMaxQueue       = 1000
	maxWSBlockGrowth      = 32
	// resubscribeDelay gathers the subscription changes of one burst into
	// one SSE reconnection.
	resubscribeDelay = 20 * time.Millisecond
	// maxSSELine bounds one line of an SSE stream (a message's envelope).
	maxSSELine = 4 << 20
)

func (cfg *Options) withDefaults() Options {
	c := *cfg
	c.Channels = nil
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = defaultPublishTimeout
	}
	if c.WSRetryAfter <= 0 {
		c.WSRetryAfter = defaultWSRetryAfter
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = defaultMaxQueue
	}
	return c
}

// Env is what a [Conn] or a [Client] runs on: the platform's hooks (the
// browser's objects through package jsbind, or a test's fakes), not
// settings, which are [Options].
type Env struct {
	// Dialer opens wires and posts. Required.
	Dialer Dialer
	// Clock defaults to SystemClock.
	Clock Clock
	// Observer hears messages, state changes, gaps and errors. May be nil.
	Observer Observer
}

// Conn is the connection state machine. It is driven by its methods and by
// the [WireEvents] of the wires it dials, and it never blocks. It is safe
// for concurrent use; it calls its Dialer, Wires and Observer without
// holding its lock.
type Conn struct {
	session // pending: sent on a WebSocket, awaiting the ack

	started  bool
	channels []string // sorted, no duplicates
	retry    shared.Retrier

	// clientID is the client id of the last hello (a string), read
	// without the lock: a Client holding its own lock asks for it, and
	// taking the Conn's lock there could run call-outs that need the
	// Client's. queries are the presence requests awaiting an answer on
	// the WebSocket.
	clientID atomic.Value
	queries  map[string]*query

	// cur is the current attempt (dialing or live); nil while waiting.
	cur *attempt
	// probe is, in auto mode, a WebSocket attempt made while SSE is live;
	// it replaces cur once the server says hello on it.
	probe *attempt
	// heartbeat is the server's heartbeat interval, from its hello.
	heartbeat time.Duration
	// maxFrame is the server's limit on a client frame, from its hello; a
	// larger frame would make it close the connection (1009).
	maxFrame int

	retryTimer Timer // pending dial, while waiting
	retryGen   int   // tells a stale retry timer from the current one
	watchdog   Timer
	resubTimer Timer
	probeTimer Timer
	refreshing bool // waiting for the Dialer's Refresh

	// Auto mode's wire choice.
	fallback       bool      // this round's WebSocket attempt failed: dial SSE now
	wsFailed       bool      // a WebSocket attempt failed since the last live one
	wsBlockedUntil time.Time // stay on SSE until then
	wsBlockFor     time.Duration

	offline bool // an offline event came since the connection went live

	queue []*publication // waiting for a connection
}

// NewConn returns a connection to the Duet server under base (see
// [NewEndpoints]), not started yet: call Start. cfg may be nil.
func NewConn(base string, cfg *Options, env Env) (*Conn, error) {
	ep, err := NewEndpoints(base)
	if err != nil {
		return nil, err
	}
	return newConn(ep, cfg, env)
}

func newConn(ep Endpoints, cfg *Options, env Env) (*Conn, error) {
	c := &Conn{}
	channels, err := c.init(ep, cfg, env)
	if err != nil {
		return nil, err
	}
	c.channels = channels
	c.retry.Policy = c.cfg.Backoff
	return c, nil
}

// current reports whether a's events still count.
func (c *Conn) current(a *attempt) bool { return !a.dead && (a == c.cur || a == c.probe) }

func (c *Conn) hasChannel(name string) bool {
	return inSet(c.channels, name)
}

// stopTimer stops *t, if any, and forgets it.
func stopTimer(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// Start begins connecting. Calling it again does nothing.
func (c *Conn) Start() {
	c.lock()
	defer c.unlock()
	if c.started || c.state == StateClosed {
		return
	}
	c.started = true
	c.dialLocked()
}

// State returns the current state.
func (c *Conn) State() State {
	c.lock()
	defer c.unlock()
	return c.state
}

// Wire returns the wire of the live connection, or of the last one.
func (c *Conn) Wire() Kind {
	c.lock()
	defer c.unlock()
	return c.kind
}

// LastEventID returns the id a reconnection resumes after.
func (c *Conn) LastEventID() string {
	c.lock()
	defer c.unlock()
	return c.cursor.Last()
}

// Channels returns the subscribed channels, sorted.
func (c *Conn) Channels() []string {
	c.lock()
	defer c.unlock()
	return slices.Clone(c.channels)
}

// Close closes the connection for good. Waiting publishes fail.
func (c *Conn) Close() {
	c.lock()
	defer c.unlock()
	c.closeLocked()
}

func (c *Conn) closeLocked() {
	if c.state == StateClosed {
		return
	}
	if c.cur != nil {
		c.dropLocked(c.cur, shared.CodeNormal, "client closed")
	}
	if c.probe != nil {
		c.dropLocked(c.probe, shared.CodeNormal, "client closed")
	}
	stopTimer(&c.retryTimer)
	stopTimer(&c.probeTimer)
	c.retryGen++
	c.refreshing = false
	for _, p := range c.pending {
		c.settleLocked(p, "", errConnClosed)
	}
	for len(c.queue) > 0 {
		c.settleLocked(c.queue[0], "", errConnClosed)
	}
	c.setStateLocked(StateClosed, c.kind)
}

// stopLocked ends the connection for a close code whose action is stop.
func (c *Conn) stopLocked(e *shared.Error) {
	obs := c.obs
	c.later(func() { obs.Error(e, true) })
	c.closeLocked()
}
