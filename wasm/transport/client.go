package transport

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/duet-rt/duet/shared"
)

// ClientOptions are a [Client]'s options beyond its connection's [Config].
// The zero value works.
type ClientOptions struct {
	// Bus shares the connection with the other tabs of the origin. Nil
	// means not shared: the client leads at once, on its own.
	Bus Bus
	// TabID names this tab on the bus: 1–32 bytes of letters, digits, '-'
	// and '_'. Defaults to a random id.
	TabID string
	// ConfirmWithin is how long a new leader waits for the tabs it knows of
	// to confirm they are still there, before it drops the channels of
	// those that did not (tabs that crashed without saying goodbye).
	// Defaults to 3s.
	ConfirmWithin time.Duration
}

const defaultConfirmWithin = 3 * time.Second

// Client is one Duet.connect: the subscriptions of one tab, with
// deduplication by id, over a connection that is either its own (it leads)
// or another tab's (it follows, over the Bus).
//
// In shared mode every tab starts as a follower and announces itself and
// its channels on the bus. The binding asks the browser for the origin's
// lock and calls Lead when this tab gets it: it then runs the [Conn], with
// the union of the channels of all tabs, resuming from the last id this tab
// saw, and relays what the connection hears to the other tabs, which keep
// their own cursor and drop what they already have. Publishes of followers
// go to the leader and their acks come back.
//
// A Client is safe for concurrent use.
type Client struct {
	serial
	ep   Endpoints
	cfg  Config
	opts ClientOptions
	env  Env
	obs  Observer
	id   string

	started bool
	closed  bool
	leading bool
	leader  string // the leading tab's id; "" while none is known
	conn    *Conn  // while leading

	own    []string            // this tab's channels, sorted
	tabs   map[string]*tabInfo // the other tabs and their channels
	prune  Timer
	cursor Cursor
	gap    string // the resume id of the last gap notice reported

	state     State
	wire      Kind
	everOpen  bool
	toldState State
	toldKind  Kind

	refs    uint64
	pending map[string]*publication // a follower's publishes: sent, or waiting for a leader
}

type tabInfo struct {
	channels  []string
	confirmed bool
}

var errLeaderLost = shared.NewError(shared.CodeAbnormal, "duet/transport: the leading tab went away before the server acknowledged the publish; it may or may not have been published")

// NewClient returns a client of the Duet server under base, not started
// yet: call Start. cfg may be nil; cfg.Channels are this tab's channels.
func NewClient(base string, cfg *Config, env Env, opts ClientOptions) (*Client, error) {
	ep, err := NewEndpoints(base)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &Config{}
	}
	if env.Dialer == nil {
		return nil, errors.New("duet/transport: Env.Dialer is nil")
	}
	own, err := normalizeChannels(cfg.Channels)
	if err != nil {
		return nil, err
	}
	if opts.TabID == "" {
		opts.TabID = newTabID()
	} else if !validTabID(opts.TabID) {
		return nil, errors.New("duet/transport: TabID must be 1–32 letters, digits, '-' or '_'")
	}
	if opts.ConfirmWithin <= 0 {
		opts.ConfirmWithin = defaultConfirmWithin
	}
	if env.Clock == nil {
		env.Clock = SystemClock{}
	}
	cl := &Client{
		ep:      ep,
		cfg:     cfg.withDefaults(),
		opts:    opts,
		env:     env,
		obs:     env.Observer,
		id:      opts.TabID,
		own:     own,
		tabs:    make(map[string]*tabInfo),
		cursor:  NewCursor(cfg.LastEventID),
		pending: make(map[string]*publication),
	}
	if cl.obs == nil {
		cl.obs = nopObserver{}
	}
	return cl, nil
}

func validTabID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Start begins: without a bus the client leads at once; with one it
// announces itself and waits to hear from the leader, or for Lead.
func (cl *Client) Start() {
	cl.lock()
	defer cl.unlock()
	if cl.started || cl.closed {
		return
	}
	cl.started = true
	if cl.opts.Bus == nil {
		cl.leadLocked()
		return
	}
	cl.postLocked(&busMsg{f: shared.Frame{Type: busTabHello, Channels: nonNil(cl.own)}})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// TabID returns this tab's id on the bus.
func (cl *Client) TabID() string { return cl.id }

// Leading reports whether this tab runs the connection.
func (cl *Client) Leading() bool {
	cl.lock()
	defer cl.unlock()
	return cl.leading
}

// State returns the state of the connection this tab uses.
func (cl *Client) State() State {
	cl.lock()
	defer cl.unlock()
	return cl.state
}

// Wire returns the wire of the connection this tab uses.
func (cl *Client) Wire() Kind {
	cl.lock()
	defer cl.unlock()
	return cl.wire
}

// LastEventID returns the id of the last message this tab received.
func (cl *Client) LastEventID() string {
	cl.lock()
	defer cl.unlock()
	return cl.cursor.Last()
}

// Channels returns this tab's channels, sorted.
func (cl *Client) Channels() []string {
	cl.lock()
	defer cl.unlock()
	return slices.Clone(cl.own)
}

// Lead makes this tab the leader: the binding calls it when the tab got the
// origin's lock. It opens the connection with the channels of every tab it
// knows of, resuming from the last id it saw.
func (cl *Client) Lead() {
	cl.lock()
	defer cl.unlock()
	if cl.closed || cl.leading {
		return
	}
	cl.leadLocked()
}

func (cl *Client) leadLocked() {
	cl.leading, cl.leader = true, cl.id
	// Publishes sent to the previous leader are in doubt; those that
	// waited for a leader go out now, through the connection.
	cl.dropInFlightLocked()
	var waiting []*publication
	for _, p := range cl.pending {
		waiting = append(waiting, p)
	}
	bySeq(waiting)
	if cl.state == StateOpen {
		cl.setStateLocked(StateReconnecting, cl.wire)
	}
	cfg := cl.cfg
	cfg.Channels = cl.unionLocked()
	cfg.LastEventID = cl.cursor.Last()
	obs := &leaderObserver{cl: cl}
	conn, err := newConn(cl.ep, &cfg, Env{Dialer: cl.env.Dialer, Clock: cl.env.Clock, Observer: obs})
	if err != nil {
		// Every input was validated already.
		panic("duet/transport: " + err.Error())
	}
	obs.conn = conn
	cl.conn = conn
	if cl.opts.Bus != nil {
		for _, t := range cl.tabs {
			t.confirmed = false
		}
		cl.prune = cl.env.Clock.AfterFunc(cl.opts.ConfirmWithin, cl.pruneDue)
		cl.postLocked(&busMsg{state: cl.state, wire: cl.wire, f: shared.Frame{Type: busLeader}})
	}
	for _, p := range waiting {
		cl.settleLocked(p, "", nil) // hand it over: the connection settles it
		cl.later(func() { conn.Publish(p.channel, p.event, p.data, p.done) })
	}
	cl.later(conn.Start)
}

// pruneDue drops the tabs that did not confirm themselves to this leader.
func (cl *Client) pruneDue() {
	cl.lock()
	defer cl.unlock()
	cl.prune = nil
	if !cl.leading || cl.closed {
		return
	}
	changed := false
	for id, t := range cl.tabs {
		if !t.confirmed {
			delete(cl.tabs, id)
			changed = true
		}
	}
	if changed {
		cl.updateUnionLocked()
	}
}

// unionLocked returns the channels of every tab, sorted.
func (cl *Client) unionLocked() []string {
	u := slices.Clone(cl.own)
	for _, t := range cl.tabs {
		u = append(u, t.channels...)
	}
	return sortedSet(u)
}

func (cl *Client) updateUnionLocked() {
	if !cl.leading || cl.conn == nil {
		return
	}
	conn, u := cl.conn, cl.unionLocked()
	cl.later(func() { _ = conn.SetChannels(u) }) // names were validated
}

func (cl *Client) postLocked(m *busMsg) {
	bus := cl.opts.Bus
	if bus == nil {
		return
	}
	m.from = cl.id
	p := appendBusMsg(nil, m)
	cl.later(func() { bus.Post(p) })
}

func (cl *Client) setStateLocked(s State, k Kind) {
	cl.state, cl.wire = s, k
	if s == StateOpen {
		cl.everOpen = true
	}
	if s == cl.toldState && k == cl.toldKind {
		return
	}
	cl.toldState, cl.toldKind = s, k
	obs := cl.obs
	cl.later(func() { obs.StateChanged(s, k) })
}

// deliverLocked hands a message to the application if it is new and of
// one of this tab's channels. The cursor moves either way.
func (cl *Client) deliverLocked(e *shared.Envelope) {
	if !cl.cursor.Accept(e.ID) {
		return
	}
	if !inSet(cl.own, e.Channel) {
		return
	}
	obs := cl.obs
	cl.later(func() { obs.Message(e) })
}

func (cl *Client) gapLocked(g *Gap) {
	if g.ID != "" {
		if g.ID == cl.gap {
			return
		}
		cl.gap = g.ID
		if cl.cursor.Accept(g.ID); cl.cursor.Last() != g.ID {
			cl.cursor.Jump(g.ID)
		}
	}
	relevant := len(g.Channels) == 0
	for _, c := range g.Channels {
		if inSet(cl.own, c) {
			relevant = true
		}
	}
	if relevant {
		obs := cl.obs
		cl.later(func() { obs.Gap(g) })
	}
}

// leaderObserver relays what the leader's connection hears.
type leaderObserver struct {
	cl   *Client
	conn *Conn
}

func (o *leaderObserver) StateChanged(s State, k Kind) {
	cl := o.cl
	cl.lock()
	defer cl.unlock()
	if cl.conn != o.conn || cl.closed {
		return
	}
	cl.postLocked(&busMsg{state: s, wire: k, f: shared.Frame{Type: busState}})
	cl.setStateLocked(s, k)
}

func (o *leaderObserver) Message(e *shared.Envelope) {
	cl := o.cl
	cl.lock()
	defer cl.unlock()
	if cl.conn != o.conn || cl.closed {
		return
	}
	cl.postLocked(&busMsg{f: shared.MessageFrame(e)})
	cl.deliverLocked(e)
}

func (o *leaderObserver) Gap(g *Gap) {
	cl := o.cl
	cl.lock()
	defer cl.unlock()
	if cl.conn != o.conn || cl.closed {
		return
	}
	cl.postLocked(&busMsg{f: shared.Frame{Type: busGap, Channels: g.Channels, LastEventID: g.LastEventID, ID: g.ID, Reason: g.Reason}})
	cl.gapLocked(g)
}

func (o *leaderObserver) Error(e *shared.Error, fatal bool) {
	cl := o.cl
	cl.lock()
	defer cl.unlock()
	if cl.conn != o.conn || cl.closed {
		return
	}
	cl.postLocked(&busMsg{fatal: fatal, f: shared.Frame{Type: busError, Code: e.Code, Message: e.Message}})
	obs := cl.obs
	cl.later(func() { obs.Error(e, fatal) })
}

// Receive handles one message from the bus.
func (cl *Client) Receive(p []byte) {
	m, err := decodeBusMsg(p)
	if err != nil {
		return // not ours: another version, or another user of the channel
	}
	cl.lock()
	defer cl.unlock()
	if cl.closed || !cl.started || m.from == cl.id || (m.to != "" && m.to != cl.id) {
		return
	}
	f := &m.f
	switch f.Type {
	case busTabHello, busTabSubs:
		chs, err := normalizeChannels(f.Channels)
		if err != nil {
			return
		}
		_, known := cl.tabs[m.from]
		cl.tabs[m.from] = &tabInfo{channels: chs, confirmed: true}
		cl.updateUnionLocked()
		if cl.leading && (f.Type == busTabHello || !known) {
			cl.postLocked(&busMsg{state: cl.state, wire: cl.wire, f: shared.Frame{Type: busLeader}})
		}
	case busTabBye:
		delete(cl.tabs, m.from)
		cl.updateUnionLocked()
		if m.from == cl.leader && !cl.leading {
			cl.leaderGoneLocked()
		}
	case busLeader, busState:
		cl.followLocked(m.from, m.state, m.wire)
	case busMessage:
		e := f.Envelope()
		cl.deliverLocked(&e)
	case busGap:
		cl.gapLocked(&Gap{Channels: f.Channels, LastEventID: f.LastEventID, ID: f.ID, Reason: f.Reason})
	case busError:
		if m.from == cl.leader && !cl.leading {
			e, fatal, obs := shared.NewError(f.Code, f.Message), m.fatal, cl.obs
			cl.later(func() { obs.Error(e, fatal) })
		}
	case busPublish:
		if !cl.leading || cl.conn == nil {
			return // sent to a leader that is gone; the sender gives up on it
		}
		conn, from, ref := cl.conn, m.from, f.Ref
		channel, event, data, binary := f.Channel, f.Event, f.Data, f.Binary
		cl.later(func() {
			conn.publish(channel, event, data, binary, func(id string, err error) {
				cl.lock()
				defer cl.unlock()
				if cl.closed {
					return
				}
				if err != nil {
					e, ok := err.(*shared.Error)
					if !ok {
						e = shared.NewError(shared.CodeInternal, err.Error())
					}
					cl.postLocked(&busMsg{to: from, f: shared.Frame{Type: busNack, Ref: ref, Code: e.Code, Message: e.Message}})
					return
				}
				cl.postLocked(&busMsg{to: from, f: shared.Frame{Type: busAck, Ref: ref, ID: id}})
			})
		})
	case busVisible:
		if conn := cl.conn; cl.leading && conn != nil {
			cl.later(conn.Visible)
		}
	case busAck:
		if p := cl.pending[f.Ref]; p != nil {
			cl.settleLocked(p, f.ID, nil)
		}
	case busNack:
		if p := cl.pending[f.Ref]; p != nil {
			cl.settleLocked(p, "", shared.NewError(f.Code, f.Message))
		}
	}
}

// followLocked records that tab from leads, with its connection in state s.
func (cl *Client) followLocked(from string, s State, k Kind) {
	if cl.leading {
		return // the lock makes two leaders impossible; a stale message
	}
	if from != cl.leader {
		cl.dropInFlightLocked()
		cl.leader = from
		// Confirm this tab and its channels to the new leader, and give it
		// the publishes that waited for a leader.
		cl.postLocked(&busMsg{f: shared.Frame{Type: busTabSubs, Channels: nonNil(cl.own)}})
		var waiting []*publication
		for _, p := range cl.pending {
			if !p.sent {
				waiting = append(waiting, p)
			}
		}
		bySeq(waiting)
		for _, p := range waiting {
			cl.sendPublishLocked(p)
		}
	}
	if s == StateClosed {
		// The leader's connection stopped for good (the state of a leader
		// that merely closed its tab never comes: it says bye).
		cl.setStateLocked(StateClosed, k)
		return
	}
	if !cl.everOpen && s == StateReconnecting {
		s = StateConnecting
	}
	cl.setStateLocked(s, k)
}

// leaderGoneLocked: the leading tab closed; another will take over.
func (cl *Client) leaderGoneLocked() {
	cl.leader = ""
	cl.dropInFlightLocked()
	if cl.state == StateClosed {
		return
	}
	if cl.everOpen {
		cl.setStateLocked(StateReconnecting, cl.wire)
	} else {
		cl.setStateLocked(StateConnecting, cl.wire)
	}
}

// dropInFlightLocked fails the publishes sent to the leader, whose fate is
// unknown.
func (cl *Client) dropInFlightLocked() {
	for _, p := range cl.pending {
		if p.sent {
			cl.settleLocked(p, "", errLeaderLost)
		}
	}
}

func (cl *Client) sendPublishLocked(p *publication) {
	p.sent = true
	cl.postLocked(&busMsg{to: cl.leader, f: shared.Frame{Type: busPublish, Ref: p.ref, Channel: p.channel, Event: p.event, Data: p.data, Binary: p.binary}})
}

// Subscribe adds channels to this tab's set.
func (cl *Client) Subscribe(channels ...string) error {
	names, err := normalizeChannels(channels)
	if err != nil {
		return err
	}
	cl.lock()
	defer cl.unlock()
	own := append(slices.Clone(cl.own), names...)
	cl.setOwnLocked(sortedSet(own))
	return nil
}

// Unsubscribe removes channels from this tab's set.
func (cl *Client) Unsubscribe(channels ...string) {
	cl.lock()
	defer cl.unlock()
	own := slices.DeleteFunc(slices.Clone(cl.own), func(c string) bool { return slices.Contains(channels, c) })
	cl.setOwnLocked(own)
}

func (cl *Client) setOwnLocked(own []string) {
	if slices.Equal(own, cl.own) || cl.closed {
		return
	}
	cl.own = own
	if cl.started {
		cl.postLocked(&busMsg{f: shared.Frame{Type: busTabSubs, Channels: nonNil(own)}})
	}
	cl.updateUnionLocked()
}

// Publish publishes like [Conn.Publish], through this tab's connection or
// through the leader's.
func (cl *Client) Publish(channel, event string, data []byte, done func(id string, err error)) {
	cl.publish(channel, event, data, false, done)
}

// PublishBinary publishes data, raw bytes, like [Client.Publish].
func (cl *Client) PublishBinary(channel, event string, data []byte, done func(id string, err error)) {
	cl.publish(channel, event, data, true, done)
}

func (cl *Client) publish(channel, event string, data []byte, binary bool, done func(id string, err error)) {
	cl.lock()
	defer cl.unlock()
	if err := validatePublish(channel, event, data, binary); err != nil {
		cl.later(func() { done("", err) })
		return
	}
	if len(data) == 0 && !binary {
		data = []byte("null")
	}
	if cl.closed {
		cl.later(func() { done("", errConnClosed) })
		return
	}
	if cl.leading {
		conn := cl.conn
		cl.later(func() { conn.publish(channel, event, data, binary, done) })
		return
	}
	cl.refs++
	p := &publication{ref: "t" + strconv.FormatUint(cl.refs, 10), seq: int(cl.refs), channel: channel, event: event, data: data, binary: binary, done: done}
	cl.pending[p.ref] = p
	p.timer = cl.env.Clock.AfterFunc(cl.cfg.PublishTimeout, func() {
		cl.lock()
		defer cl.unlock()
		cl.settleLocked(p, "", errPubTimeout)
	})
	if cl.leader != "" {
		cl.sendPublishLocked(p)
	}
}

// settleLocked calls p's done once, or, with neither id nor err, only
// forgets p (it was handed to the connection).
func (cl *Client) settleLocked(p *publication, id string, err error) {
	if p.settled {
		return
	}
	p.settled = true
	stopTimer(&p.timer)
	delete(cl.pending, p.ref)
	done := p.done
	switch {
	case err != nil:
		cl.later(func() { done("", err) })
	case id != "":
		cl.later(func() { done(id, nil) })
	}
}

// Online forwards the browser's online event to the connection, if this
// tab runs it.
func (cl *Client) Online() { cl.toConn((*Conn).Online) }

// Offline forwards the browser's offline event.
func (cl *Client) Offline() { cl.toConn((*Conn).Offline) }

// Visible forwards the page's becoming visible. A follower tells the
// leader, whose own page may be hidden and its timers throttled: a
// reconnection it is waiting for is due now that someone is looking.
func (cl *Client) Visible() {
	cl.lock()
	defer cl.unlock()
	if !cl.leading && cl.leader != "" && !cl.closed {
		cl.postLocked(&busMsg{to: cl.leader, f: shared.Frame{Type: busVisible}})
		return
	}
	if conn := cl.conn; conn != nil && !cl.closed {
		cl.later(conn.Visible)
	}
}

func (cl *Client) toConn(f func(*Conn)) {
	cl.lock()
	defer cl.unlock()
	if conn := cl.conn; conn != nil && !cl.closed {
		cl.later(func() { f(conn) })
	}
}

// Close ends this tab's part: it says goodbye on the bus and, if it leads,
// closes the connection (the binding then releases the lock, and another
// tab takes over). Its publishes still waiting fail.
func (cl *Client) Close() {
	cl.lock()
	defer cl.unlock()
	if cl.closed {
		return
	}
	if cl.started {
		cl.postLocked(&busMsg{f: shared.Frame{Type: busTabBye}})
	}
	cl.closed = true
	if conn := cl.conn; conn != nil {
		cl.conn = nil
		cl.later(conn.Close)
	}
	cl.leading = false
	stopTimer(&cl.prune)
	for _, p := range cl.pending {
		cl.settleLocked(p, "", errConnClosed)
	}
	cl.setStateLocked(StateClosed, cl.wire)
}
