package transport

import (
	"errors"
	"slices"
	"time"

	"github.com/duet-rt/duet/shared"
)

// ClientOptions are a [Client]'s options beyond its connection's [Options].
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
	session // pending: a follower's publishes, sent or waiting for a leader
	opts    ClientOptions
	id      string

	started   bool
	closed    bool
	suspended bool // between Suspend and Resume: off the bus and the network
	leading   bool
	leader    string // the leading tab's id; "" while none is known
	conn      *Conn  // while leading
	// clientID is, in a follower, the client id of the leader's
	// connection, as its leader and state messages say.
	clientID string

	own   []string            // this tab's channels, sorted
	tabs  map[string]*tabInfo // the other tabs and their channels
	prune Timer
}

// NewClient returns a client of the Duet server under base, not started
// yet: call Start. cfg may be nil; cfg.Channels are this tab's channels.
func NewClient(base string, cfg *Options, env Env, opts ClientOptions) (*Client, error) {
	ep, err := NewEndpoints(base)
	if err != nil {
		return nil, err
	}
	cl := &Client{}
	own, err := cl.init(ep, cfg, env)
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
	cl.opts, cl.id = opts, opts.TabID
	cl.own = own
	cl.tabs = make(map[string]*tabInfo)
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
	cl.joinLocked()
}

// joinLocked starts this tab's part: without a bus it leads at once; with
// one it announces itself and its channels, and waits for the leader's
// answer, or for Lead.
func (cl *Client) joinLocked() {
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
	return cl.kind
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
	if !cl.acceptGapLocked(g) {
		return
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
	data, err := checkPublish(channel, event, data, binary)
	if err != nil {
		cl.later(func() { done("", err) })
		return
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
	ref := cl.nextRef('t')
	p := &publication{ref: ref, seq: int(cl.refs), channel: channel, event: event, data: data, binary: binary, done: done}
	cl.pending[p.ref] = p
	p.timer = cl.clk.AfterFunc(cl.cfg.PublishTimeout, func() {
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
	cl.setStateLocked(StateClosed, cl.kind)
}
