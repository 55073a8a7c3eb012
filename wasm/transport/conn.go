package transport

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Config configures a [Conn]. The zero value works: auto mode, no channels,
// the default backoff and timeouts.
type Config struct {
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

func (cfg *Config) withDefaults() Config {
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

// Env is what a [Conn] or [Client] runs on.
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
	serial
	ep  Endpoints
	cfg Config
	d   Dialer
	clk Clock
	obs Observer

	started  bool
	state    State
	everOpen bool // the state was open at least once
	kind     Kind // the wire of the live connection, or of the last one
	// told is the state and wire last reported to the observer.
	toldState State
	toldKind  Kind

	channels []string // sorted, no duplicates
	cursor   Cursor
	lastGap  string // the resume id of the last gap notice reported
	retry    shared.Retrier

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

	refs    uint64
	pending map[string]*publication // sent on a WebSocket, awaiting the ack
	queue   []*publication          // waiting for a connection
}

// publication is one Publish call.
type publication struct {
	ref     string
	channel string
	event   string
	data    []byte
	binary  bool // data is bytes, not JSON
	done    func(id string, err error)
	timer   Timer
	settled bool
	// For a Client's follower publishes: the order of the calls, and
	// whether it went to a leader.
	seq  int
	sent bool
	// refreshed: a POST was refused with 4401, credentials were refreshed
	// and the publish sent again; a second 4401 fails it.
	refreshed bool
}

// attempt is one dialed wire. It is the WireEvents the wire reports to.
type attempt struct {
	c    *Conn
	kind Kind
	wire Wire // set once the Dialer returns
	dead bool // given up: its events are ignored

	opened   bool // the wire opened
	live     bool // the server said hello (or sent anything that implies it)
	idle     bool // SSE with no channel: nothing to request, live at once
	subSent  bool // a subscribe frame carrying the resume id went out
	lastRecv time.Time
	sse      *shared.SSEParser
	connect  Timer // the connect timeout
}

// Errors a publish can fail with, besides the server's own.
var (
	errConnClosed  = shared.NewError(shared.CodeNormal, "duet/transport: the connection is closed")
	errLostAck     = shared.NewError(shared.CodeAbnormal, "duet/transport: the connection dropped before the server acknowledged the publish; it may or may not have been published")
	errQueueFull   = shared.NewError(shared.CodeTryAgainLater, "duet/transport: too many publishes waiting for a connection")
	errPubTimeout  = shared.NewError(shared.CodeTryAgainLater, "duet/transport: no acknowledgement from the server in time; the publish may or may not have happened")
	errBadDataJSON = shared.NewError(shared.CodeBadRequest, "duet/transport: publish data is not valid JSON")
)

// NewConn returns a connection to the Duet server under base (see
// [NewEndpoints]), not started yet: call Start. cfg may be nil.
func NewConn(base string, cfg *Config, env Env) (*Conn, error) {
	ep, err := NewEndpoints(base)
	if err != nil {
		return nil, err
	}
	return newConn(ep, cfg, env)
}

func newConn(ep Endpoints, cfg *Config, env Env) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if env.Dialer == nil {
		return nil, errors.New("duet/transport: Env.Dialer is nil")
	}
	channels, err := normalizeChannels(cfg.Channels)
	if err != nil {
		return nil, err
	}
	if len(cfg.LastEventID) > shared.MaxIDLength*4 {
		return nil, errors.New("duet/transport: lastEventId is too long")
	}
	c := &Conn{
		ep:       ep,
		cfg:      cfg.withDefaults(),
		d:        env.Dialer,
		clk:      env.Clock,
		obs:      env.Observer,
		channels: channels,
		cursor:   NewCursor(cfg.LastEventID),
		pending:  make(map[string]*publication),
	}
	if c.clk == nil {
		c.clk = SystemClock{}
	}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	c.retry.Policy = c.cfg.Backoff
	return c, nil
}

// normalizeChannels validates names and returns them sorted, without
// duplicates.
func normalizeChannels(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := shared.ValidateChannel(n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return sortedSet(out), nil
}

type nopObserver struct{}

func (nopObserver) StateChanged(State, Kind)  {}
func (nopObserver) Message(*shared.Envelope)  {}
func (nopObserver) Gap(*Gap)                  {}
func (nopObserver) Error(*shared.Error, bool) {}

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

// setStateLocked moves to s and tells the observer, if s or the wire
// changed.
func (c *Conn) setStateLocked(s State) {
	c.state = s
	if s == StateOpen {
		c.everOpen = true
	}
	c.tellStateLocked()
}

func (c *Conn) tellStateLocked() {
	if c.toldState == c.state && c.toldKind == c.kind {
		return
	}
	s, k, obs := c.state, c.kind, c.obs
	c.toldState, c.toldKind = s, k
	c.later(func() { obs.StateChanged(s, k) })
}

// chooseKindLocked is the wire policy.
func (c *Conn) chooseKindLocked() Kind {
	switch c.cfg.Mode {
	case ModeWebSocket:
		return KindWebSocket
	case ModeSSE:
		return KindSSE
	}
	if c.fallback || c.clk.Now().Before(c.wsBlockedUntil) {
		return KindSSE
	}
	return KindWebSocket
}

// dialLocked starts an attempt on the wire the policy picks.
func (c *Conn) dialLocked() {
	stopTimer(&c.retryTimer)
	c.retryGen++
	a := &attempt{c: c, kind: c.chooseKindLocked(), lastRecv: c.clk.Now()}
	c.cur = a
	if a.kind == KindSSE && len(c.channels) == 0 {
		// The SSE endpoint needs a channel; with none there is nothing to
		// stream, and publishes go by POST anyway.
		a.idle, a.opened = true, true
		c.liveLocked(a)
		return
	}
	c.startAttemptLocked(a)
}

// startAttemptLocked dials a's wire and arms its connect timeout.
func (c *Conn) startAttemptLocked(a *attempt) {
	a.connect = c.clk.AfterFunc(c.cfg.ConnectTimeout, func() { c.connectTimedOut(a) })
	d := c.d
	if a.kind == KindWebSocket {
		url := c.ep.WS
		c.later(func() { c.attach(a, d.DialWebSocket(url, a)) })
		return
	}
	a.sse = &shared.SSEParser{
		OnEvent:      func(ev shared.SSEEvent) { c.sseEventLocked(a, ev) },
		MaxLineBytes: maxSSELine,
	}
	url := c.ep.SSEURL(c.channels, c.cursor.Last())
	c.later(func() { c.attach(a, d.DialSSE(url, a)) })
}

// attach records the wire the Dialer returned for a, or closes it if a was
// given up meanwhile.
func (c *Conn) attach(a *attempt, w Wire) {
	if w == nil {
		return
	}
	c.lock()
	keep := !a.dead
	if keep {
		a.wire = w
	}
	c.unlock()
	if !keep {
		w.Close(shared.CodeNormal, "")
	}
}

// dropLocked gives a up and closes its wire.
func (c *Conn) dropLocked(a *attempt, code shared.Code, reason string) {
	if a.dead {
		return
	}
	a.dead = true
	stopTimer(&a.connect)
	if a == c.cur {
		c.cur = nil
		stopTimer(&c.watchdog)
		stopTimer(&c.resubTimer)
	}
	if a == c.probe {
		c.probe = nil
	}
	if code == shared.CodeAbnormal || code == shared.CodeGoingAway || code < 1000 || (code > 1000 && code < 3000) {
		code = shared.CodeNormal // browsers let scripts send only 1000 and 3000–4999
	}
	c.later(func() {
		c.lock()
		w := a.wire
		a.wire = nil
		c.unlock()
		if w != nil {
			w.Close(code, reason)
		}
	})
}

// sendLocked sends f on a's WebSocket.
func (c *Conn) sendLocked(a *attempt, f *shared.Frame) {
	c.sendRawLocked(a, shared.AppendFrame(nil, f), false)
}

// sendRawLocked sends p on a's WebSocket: a text message, or a binary one
// (a binary publish frame).
func (c *Conn) sendRawLocked(a *attempt, p []byte, binary bool) {
	c.later(func() {
		c.lock()
		w := a.wire
		c.unlock()
		if w == nil {
			return
		}
		// A failed send is followed by the close event.
		if binary {
			_ = w.SendBinary(p)
		} else {
			_ = w.Send(p)
		}
	})
}

func (c *Conn) nextRef(prefix byte) string {
	c.refs++
	return string(strconv.AppendUint([]byte{prefix}, c.refs, 10))
}

// Opened implements WireEvents.
func (a *attempt) Opened() {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.opened {
		return
	}
	a.opened = true
	a.lastRecv = c.clk.Now()
	if a.kind == KindWebSocket && len(c.channels) > 0 {
		c.sendLocked(a, &shared.Frame{
			Type:        shared.TypeSubscribe,
			Ref:         c.nextRef('s'),
			Channels:    slices.Clone(c.channels),
			LastEventID: c.cursor.Last(),
		})
		a.subSent = true
	}
}

// Received implements WireEvents.
func (a *attempt) Received(p []byte) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) {
		return
	}
	a.lastRecv = c.clk.Now()
	if a.kind == KindSSE {
		if err := a.sse.Feed(p); err != nil && c.current(a) {
			c.dropLocked(a, shared.CodeNormal, "")
			c.endLocked(a, shared.CodeInternalError, err.Error())
		}
		return
	}
	// A WebSocket message may carry several frames, one per line.
	for len(p) > 0 && c.current(a) {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if blank(line) {
			continue
		}
		f, err := shared.DecodeFrame(line)
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable frame from the server: "+err.Error()))
			continue
		}
		c.frameLocked(a, &f)
	}
}

// Closed implements WireEvents.
func (a *attempt) Closed(code shared.Code, reason string) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) {
		return
	}
	a.wire = nil // the wire is gone: nothing to close
	if a == c.probe {
		c.probeFailedLocked(a)
		return
	}
	c.dropLocked(a, shared.CodeNormal, "")
	c.endLocked(a, code, reason)
}

// blank reports whether line holds nothing but JSON whitespace.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// sseEventLocked turns an SSE event into the frame it stands for.
func (c *Conn) sseEventLocked(a *attempt, ev shared.SSEEvent) {
	if !c.current(a) {
		return
	}
	switch ev.Type {
	case "duet.hello":
		f, err := shared.DecodeFrame([]byte(ev.Data))
		if err != nil {
			f = shared.Frame{}
		}
		f.Type = shared.TypeHello
		c.frameLocked(a, &f)
	case "duet.gap":
		f, err := shared.DecodeFrame([]byte(ev.Data))
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable gap notice: "+err.Error()))
			return
		}
		f.Type = shared.TypeGap
		if f.ID == "" {
			f.ID = ev.LastEventID
		}
		c.frameLocked(a, &f)
	case "duet.close":
		f, _ := shared.DecodeFrame([]byte(ev.Data))
		code := f.Code
		if code == 0 {
			code = shared.CodeGoingAway
		}
		c.dropLocked(a, shared.CodeNormal, "")
		c.endLocked(a, code, f.Message)
	default:
		if strings.HasPrefix(ev.Type, shared.ReservedEventPrefix) {
			return // a control event of a later protocol version
		}
		e, err := shared.DecodeEnvelope([]byte(ev.Data))
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable message: "+err.Error()))
			return
		}
		if e.ID == "" {
			e.ID = ev.LastEventID
		}
		if e.Event == "" {
			e.Event = ev.Type
		}
		f := shared.MessageFrame(&e)
		c.frameLocked(a, &f)
	}
}

// frameLocked acts on one frame from the server.
func (c *Conn) frameLocked(a *attempt, f *shared.Frame) {
	switch f.Type {
	case shared.TypeHello:
		if f.Heartbeat > 0 {
			c.heartbeat = time.Duration(f.Heartbeat) * time.Millisecond
		}
		if f.MaxFrameBytes > 0 {
			c.maxFrame = int(f.MaxFrameBytes)
		}
		c.liveLocked(a)
	case shared.TypeMessage:
		c.liveLocked(a)
		c.messageLocked(f.Envelope())
	case shared.TypeGap:
		c.liveLocked(a)
		c.gapLocked(&Gap{Channels: f.Channels, LastEventID: f.LastEventID, ID: f.ID, Reason: f.Reason})
	case shared.TypeAck:
		if p := c.pending[f.Ref]; p != nil {
			c.settleLocked(p, f.ID, nil)
		}
	case shared.TypeError:
		e := shared.NewError(f.Code, f.Message)
		if p := c.pending[f.Ref]; p != nil {
			c.settleLocked(p, "", e)
			return
		}
		c.reportLocked(e)
	}
	// ping, pong, subscribed, unsubscribed and types of later versions need
	// nothing: receiving them proved the connection alive.
}

func (c *Conn) messageLocked(e shared.Envelope) {
	if !c.cursor.Accept(e.ID) || !c.hasChannel(e.Channel) {
		return // a duplicate, or a message of a channel just unsubscribed
	}
	if e.Event == "" {
		e.Event = shared.DefaultEvent
	}
	obs := c.obs
	c.later(func() { obs.Message(&e) })
}

func (c *Conn) gapLocked(g *Gap) {
	if g.ID != "" {
		if g.ID == c.lastGap {
			return // the same notice again, from a second wire
		}
		c.lastGap = g.ID
		c.cursor.Accept(g.ID)
		if c.cursor.Last() != g.ID {
			c.cursor.Jump(g.ID)
		}
	}
	obs := c.obs
	c.later(func() { obs.Gap(g) })
}

func (c *Conn) reportLocked(e *shared.Error) {
	obs := c.obs
	c.later(func() { obs.Error(e, false) })
}

// liveLocked is called on the first sign of a working attempt.
func (c *Conn) liveLocked(a *attempt) {
	if a.live {
		return
	}
	a.live = true
	stopTimer(&a.connect)
	now := c.clk.Now()
	if a == c.probe {
		// WebSocket works again: it takes over from SSE. It subscribed
		// from the cursor when it opened, so whatever SSE delivers until it
		// is closed is a duplicate the cursor drops.
		old := c.cur
		c.probe, c.cur = nil, a
		stopTimer(&c.probeTimer)
		if old != nil {
			c.dropLocked(old, shared.CodeNormal, "switching to WebSocket")
		}
	}
	c.retry.Connected(now)
	c.fallback = false
	c.offline = false
	if a.kind == KindWebSocket {
		c.wsFailed, c.wsBlockFor, c.wsBlockedUntil = false, 0, time.Time{}
		stopTimer(&c.probeTimer)
	} else if c.cfg.Mode == ModeAuto && c.wsFailed {
		c.wsFailed = false
		c.blockWSLocked(now)
	} else if c.cfg.Mode == ModeAuto && !c.wsBlockedUntil.IsZero() && c.probeTimer == nil {
		// Back on SSE within the block: the probe comes when it ends.
		c.probeTimer = c.clk.AfterFunc(max(c.wsBlockedUntil.Sub(now), 0), c.probeDue)
	}
	c.kind = a.kind
	c.setStateLocked(StateOpen)
	c.armWatchdogLocked()
	c.flushQueueLocked()
}

// blockWSLocked keeps auto mode on SSE for a while, after which a probe
// tries WebSocket again.
func (c *Conn) blockWSLocked(now time.Time) {
	switch {
	case c.wsBlockFor == 0:
		c.wsBlockFor = c.cfg.WSRetryAfter
	case c.wsBlockFor < c.cfg.WSRetryAfter*maxWSBlockGrowth:
		c.wsBlockFor *= 2
	}
	c.wsBlockedUntil = now.Add(c.wsBlockFor)
	stopTimer(&c.probeTimer)
	c.probeTimer = c.clk.AfterFunc(c.wsBlockFor, c.probeDue)
}

// probeDue tries WebSocket again while SSE carries the connection.
func (c *Conn) probeDue() {
	c.lock()
	defer c.unlock()
	c.probeTimer = nil
	if c.state == StateClosed || c.probe != nil || c.cur == nil || !c.cur.live ||
		c.cur.kind != KindSSE || c.cfg.Mode != ModeAuto {
		return // the next reconnection picks WebSocket by itself
	}
	a := &attempt{c: c, kind: KindWebSocket, lastRecv: c.clk.Now()}
	c.probe = a
	c.startAttemptLocked(a)
}

func (c *Conn) probeFailedLocked(a *attempt) {
	c.dropLocked(a, shared.CodeNormal, "")
	if c.cur != nil && c.cur.live && c.cur.kind == KindSSE {
		c.blockWSLocked(c.clk.Now())
	}
}

// endLocked handles the end of the current attempt a, already dropped, by
// code: fall back to SSE, reconnect, refresh credentials, or stop.
func (c *Conn) endLocked(a *attempt, code shared.Code, reason string) {
	if c.probe != nil {
		c.dropLocked(c.probe, shared.CodeNormal, "")
	}
	stopTimer(&c.probeTimer)
	for _, p := range c.pending {
		c.settleLocked(p, "", errLostAck)
	}
	if c.state == StateClosed {
		return
	}
	action := code.Action()
	if !a.live && a.kind == KindWebSocket && c.cfg.Mode == ModeAuto &&
		action == shared.ActionReconnect && !c.fallback {
		// WebSocket did not open: a proxy that refuses the upgrade, or the
		// server is down. SSE tells which, at once.
		c.wsFailed, c.fallback = true, true
		c.dialLocked()
		return
	}
	c.fallback = false
	if action == shared.ActionStop {
		if reason == "" {
			reason = code.String()
		}
		c.stopLocked(shared.NewError(code, reason))
		return
	}
	if c.everOpen {
		c.setStateLocked(StateReconnecting)
	}
	delay := c.retry.Next(c.clk.Now())
	if action == shared.ActionRefresh {
		c.refreshing = true
		d := c.d
		gen := c.retryGen
		due := c.clk.Now().Add(delay)
		c.later(func() {
			d.Refresh(func(err error) { c.refreshed(gen, due, err) })
		})
		return
	}
	c.scheduleDialLocked(delay)
}

// refreshed continues a reconnection once the Dialer refreshed credentials.
func (c *Conn) refreshed(gen int, due time.Time, err error) {
	c.lock()
	defer c.unlock()
	if gen != c.retryGen || !c.refreshing || c.state == StateClosed {
		return
	}
	c.refreshing = false
	if err != nil {
		c.reportLocked(shared.NewError(shared.CodeUnauthorized, "duet/transport: refreshing credentials failed: "+err.Error()))
	}
	c.scheduleDialLocked(max(due.Sub(c.clk.Now()), 0))
}

func (c *Conn) scheduleDialLocked(d time.Duration) {
	stopTimer(&c.retryTimer)
	c.retryGen++
	gen := c.retryGen
	c.retryTimer = c.clk.AfterFunc(d, func() { c.retryDue(gen) })
}

func (c *Conn) retryDue(gen int) {
	c.lock()
	defer c.unlock()
	if gen != c.retryGen || c.retryTimer == nil || c.state == StateClosed {
		return
	}
	c.retryTimer = nil
	c.dialLocked()
}

// waitingLocked reports whether a reconnection is waiting for its delay.
func (c *Conn) waitingLocked() bool {
	return c.cur == nil && c.retryTimer != nil && c.state != StateClosed
}

// restartLocked replaces the current connection at once, without counting a
// failure: the network came back, or the page woke up to a silent one.
func (c *Conn) restartLocked(reason string) {
	if a := c.cur; a != nil {
		c.dropLocked(a, shared.CodeNormal, reason)
	}
	if c.probe != nil {
		c.dropLocked(c.probe, shared.CodeNormal, "")
	}
	for _, p := range c.pending {
		c.settleLocked(p, "", errLostAck)
	}
	c.refreshing = false
	c.fallback = false
	if c.everOpen {
		c.setStateLocked(StateReconnecting)
	}
	c.dialLocked()
}

func (c *Conn) timeoutLocked() time.Duration {
	if c.cfg.HeartbeatTimeout > 0 {
		return c.cfg.HeartbeatTimeout
	}
	hb := c.heartbeat
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	return hb * 5 / 2
}

func (c *Conn) armWatchdogLocked() {
	stopTimer(&c.watchdog)
	a := c.cur
	if a == nil || !a.live || a.idle {
		return
	}
	due := a.lastRecv.Add(c.timeoutLocked()).Sub(c.clk.Now())
	c.watchdog = c.clk.AfterFunc(max(due, 0), func() { c.watchdogDue(a) })
}

func (c *Conn) watchdogDue(a *attempt) {
	c.lock()
	defer c.unlock()
	if a != c.cur || a.dead {
		return
	}
	c.watchdog = nil
	timeout := c.timeoutLocked()
	if c.clk.Now().Sub(a.lastRecv) < timeout {
		c.armWatchdogLocked()
		return
	}
	c.dropLocked(a, shared.CodeHeartbeatTimeout, "no heartbeat")
	c.endLocked(a, shared.CodeHeartbeatTimeout, "duet/transport: nothing from the server for "+millis(int64(timeout)))
}

func (c *Conn) connectTimedOut(a *attempt) {
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.live {
		return
	}
	a.connect = nil
	if a == c.probe {
		c.probeFailedLocked(a)
		return
	}
	c.dropLocked(a, shared.CodeNormal, "connect timeout")
	c.endLocked(a, shared.CodeAbnormal, "duet/transport: no answer from the server within "+millis(int64(c.cfg.ConnectTimeout)))
}

// SetChannels makes channels the subscribed set. On a WebSocket the
// difference is sent as subscribe and unsubscribe frames (a new channel gets
// live messages from now on); on SSE the stream is reopened with the new
// set, resuming from the cursor. Messages of a removed channel stop at once.
func (c *Conn) SetChannels(channels []string) error {
	names, err := normalizeChannels(channels)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || slices.Equal(names, c.channels) {
		c.channels = names
		return nil
	}
	var added, removed []string
	for _, n := range names {
		if !c.hasChannel(n) {
			added = append(added, n)
		}
	}
	for _, n := range c.channels {
		if !inSet(names, n) {
			removed = append(removed, n)
		}
	}
	c.channels = names
	if c.probe != nil {
		// Simpler to try again later than to keep two wires in step.
		c.probeFailedLocked(c.probe)
	}
	a := c.cur
	switch {
	case a == nil:
		// Waiting: the next attempt takes the new set.
	case a.kind == KindWebSocket:
		if !a.opened {
			break // Opened subscribes to the whole set
		}
		if len(added) > 0 {
			f := shared.Frame{Type: shared.TypeSubscribe, Ref: c.nextRef('s'), Channels: added}
			if !a.subSent {
				f.LastEventID = c.cursor.Last()
				a.subSent = true
			}
			c.sendLocked(a, &f)
		}
		if len(removed) > 0 {
			c.sendLocked(a, &shared.Frame{Type: shared.TypeUnsubscribe, Ref: c.nextRef('u'), Channels: removed})
		}
	default:
		if c.resubTimer == nil {
			c.resubTimer = c.clk.AfterFunc(resubscribeDelay, c.resubscribeDue)
		}
	}
	return nil
}

// resubscribeDue reopens the SSE stream with the current channel set.
func (c *Conn) resubscribeDue() {
	c.lock()
	defer c.unlock()
	c.resubTimer = nil
	a := c.cur
	if a == nil || a.kind != KindSSE || c.state == StateClosed {
		return
	}
	// A reopening is no failure: no backoff, and the state stays. An
	// attempt that was not live yet keeps its place in auto mode's round.
	c.dropLocked(a, shared.CodeNormal, "")
	c.dialLocked()
}

// Publish publishes data (a JSON value; nil means null) with event ("" for
// "message") on channel and calls done once: with the message's id when the
// server has stored it, or with an error (a *shared.Error carrying the
// server's code, or one of this package's for a publish that could not be
// sent or whose ack was lost). On a WebSocket it is a publish frame; on SSE,
// a POST. While no connection is up it waits, up to PublishTimeout.
func (c *Conn) Publish(channel, event string, data []byte, done func(id string, err error)) {
	c.publish(channel, event, data, false, done)
}

func (c *Conn) publish(channel, event string, data []byte, binary bool, done func(id string, err error)) {
	c.lock()
	defer c.unlock()
	p := &publication{channel: channel, event: event, data: data, binary: binary, done: done}
	if err := validatePublish(channel, event, data, binary); err != nil {
		p.done = nil
		c.later(func() { done("", err) })
		return
	}
	if len(p.data) == 0 && !binary {
		p.data = []byte("null")
	}
	c.publishLocked(p)
}

func validatePublish(channel, event string, data []byte, binary bool) error {
	if err := shared.ValidateChannel(channel); err != nil {
		return err
	}
	if err := shared.ValidateEvent(event); err != nil {
		return err
	}
	if !binary && len(data) > 0 && !shared.ValidJSON(data) {
		return errBadDataJSON
	}
	return nil
}

// publishLocked starts p: with the timeout, in the queue or on the wire.
func (c *Conn) publishLocked(p *publication) {
	if c.state == StateClosed {
		c.settleLocked(p, "", errConnClosed)
		return
	}
	p.timer = c.clk.AfterFunc(c.cfg.PublishTimeout, func() {
		c.lock()
		defer c.unlock()
		c.settleLocked(p, "", errPubTimeout)
	})
	c.routeLocked(p)
}

// routeLocked sends p the way the current wire allows, or queues it.
func (c *Conn) routeLocked(p *publication) {
	a := c.cur
	switch {
	case c.cfg.Mode == ModeSSE || (a != nil && a.live && a.kind == KindSSE):
		c.postLocked(p)
	case a != nil && a.live && a.kind == KindWebSocket:
		p.ref = c.nextRef('p')
		var f []byte
		if p.binary {
			f = shared.AppendBinaryPublish(nil, p.ref, p.channel, p.event, p.data)
		} else {
			f = shared.AppendFrame(nil, &shared.Frame{Type: shared.TypePublish, Ref: p.ref, Channel: p.channel, Event: p.event, Data: p.data})
		}
		if c.maxFrame > 0 && len(f) > c.maxFrame {
			c.settleLocked(p, "", shared.NewError(shared.CodeTooLarge, "duet/transport: the publish frame is "+
				strconv.Itoa(len(f))+" bytes, over the server's limit of "+strconv.Itoa(c.maxFrame)))
			return
		}
		c.pending[p.ref] = p
		c.sendRawLocked(a, f, p.binary)
	case len(c.queue) >= c.cfg.MaxQueue:
		c.settleLocked(p, "", errQueueFull)
	default:
		c.queue = append(c.queue, p)
	}
}

func (c *Conn) flushQueueLocked() {
	q := c.queue
	c.queue = nil
	for _, p := range q {
		if !p.settled {
			c.routeLocked(p)
		}
	}
}

func (c *Conn) postLocked(p *publication) {
	body := publishBody(p.channel, p.event, p.data, p.binary)
	url, d := c.ep.Publish, c.d
	c.later(func() {
		d.Post(url, body, func(status int, resp []byte, err error) {
			c.lock()
			defer c.unlock()
			switch {
			case err != nil:
				c.settleLocked(p, "", shared.NewError(shared.CodeAbnormal, "duet/transport: publish request failed: "+err.Error()))
			case status/100 == 2:
				id, ok := decodeIDBody(resp)
				if !ok {
					c.settleLocked(p, "", shared.NewError(shared.CodeBadRequest, "duet/transport: publish response has no id"))
					return
				}
				c.settleLocked(p, id, nil)
			default:
				e := CodeOfHTTP(status, resp)
				if e.Code.Action() == shared.ActionRefresh && !p.refreshed && !p.settled {
					// Refused before it was published: refresh, send again.
					p.refreshed = true
					c.later(func() { d.Refresh(func(error) { c.republish(p) }) })
					return
				}
				c.settleLocked(p, "", e)
			}
		})
	})
}

// republish sends p again once credentials were refreshed.
func (c *Conn) republish(p *publication) {
	c.lock()
	defer c.unlock()
	if p.settled {
		return
	}
	if c.state == StateClosed {
		c.settleLocked(p, "", errConnClosed)
		return
	}
	c.routeLocked(p)
}

// settleLocked calls p's done once.
func (c *Conn) settleLocked(p *publication, id string, err error) {
	if p.settled {
		return
	}
	p.settled = true
	stopTimer(&p.timer)
	if p.ref != "" {
		delete(c.pending, p.ref)
	}
	if i := slices.Index(c.queue, p); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	}
	done := p.done
	if done == nil {
		return
	}
	if err == nil {
		c.later(func() { done(id, nil) })
	} else {
		c.later(func() { done("", err) })
	}
}

// Online tells the connection the browser is online again: a reconnection
// waiting for its delay dials at once, and a connection that lived through
// the outage is replaced, as it may be dead without knowing.
func (c *Conn) Online() {
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || !c.started {
		return
	}
	offline := c.offline
	c.offline = false
	switch {
	case c.waitingLocked():
		c.retry.Reset()
		c.restartLocked("")
	case offline && c.cur != nil && c.cur.live && !c.cur.idle:
		c.restartLocked("network changed")
	}
}

// Offline tells the connection the browser went offline.
func (c *Conn) Offline() {
	c.lock()
	defer c.unlock()
	c.offline = true
}

// Visible tells the connection the page became visible. Hidden pages have
// their timers throttled, so a reconnection delay or a heartbeat check may
// be long overdue: a waiting reconnection dials at once, and a connection
// silent for longer than the heartbeat timeout is replaced.
func (c *Conn) Visible() {
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || !c.started {
		return
	}
	switch a := c.cur; {
	case c.waitingLocked():
		c.restartLocked("")
	case a != nil && a.live && !a.idle && c.clk.Now().Sub(a.lastRecv) >= c.timeoutLocked():
		c.restartLocked("no heartbeat")
	}
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
	c.setStateLocked(StateClosed)
}

// stopLocked ends the connection for a close code whose action is stop.
func (c *Conn) stopLocked(e *shared.Error) {
	obs := c.obs
	c.later(func() { obs.Error(e, true) })
	c.closeLocked()
}
