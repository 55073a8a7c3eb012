package server

import (
	"context"
	"strconv"
	"sync"

	"github.com/duet-rt/duet/shared"
)

// Presence: who is in which channel. The hub records each client that
// subscribes to a channel with presence in a PresenceStore, removes it when
// the client unsubscribes or its connection ends, and hands the store's
// join and leave events to the channel's local subscribers.

// PresenceEntry is one client in a channel: its client id (the hello
// frame's "client"), its user (the identity's Subject, empty when
// anonymous) and the optional JSON info attached to it.
type PresenceEntry = shared.PresenceEntry

// PresenceStats counts a channel's presence: its clients, and its distinct
// non-empty users (anonymous clients count as clients only).
type PresenceStats struct {
	Clients int
	Users   int
}

// PresenceEvent is a join or a leave of one client in one channel.
type PresenceEvent struct {
	Leave   bool // false: a join
	Channel string
	Entry   PresenceEntry
}

// JoinOptions say how a PresenceStore records one join.
type JoinOptions struct {
	// Announce makes the join, and the entry's later leave, an event for
	// the store's watchers.
	Announce bool
	// MaxClients refuses the join (shared.CodeOverloaded) when the channel
	// already has this many clients; MaxEntries when the store holds this
	// many entries in all. Zero or negative: no bound.
	MaxClients int
	MaxEntries int
}

// A PresenceStore records who is in which channel. MemoryPresence keeps it
// in the process; natsbroker.Broker's store shares it between the nodes of
// a cluster. Implementations must be safe for concurrent use.
type PresenceStore interface {
	// Join records e in channel. Joining again with the same client id
	// replaces the entry, with no event.
	Join(ctx context.Context, channel string, e PresenceEntry, o JoinOptions) error
	// Leave removes client from channel; unknown clients are ignored.
	Leave(ctx context.Context, channel, client string) error
	// Presence returns the channel's entries, in no particular order.
	Presence(ctx context.Context, channel string) ([]PresenceEntry, error)
	// PresenceStats counts the channel's entries in constant time.
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)
	// Watch calls fn with every join and leave of an entry joined with
	// Announce: made through this store or, for a cluster-wide store, on
	// any node (a node that vanishes has its entries leave). fn must not
	// block or call the store. stop ends the calls.
	Watch(fn func(*PresenceEvent)) (stop func())
}

// A PresenceProvider is a Broker that comes with its own PresenceStore:
// the hub uses it when Config.Presence is nil.
type PresenceProvider interface {
	PresenceStore() PresenceStore
}

// Defaults of Config's presence bounds.
const (
	defaultMaxPresenceClients   = 10000
	defaultMaxPresenceEntries   = 100000
	defaultMaxPresenceInfoBytes = 1024
)

// hubPresence is the hub's side of presence: which channels have it, and
// the local subscribers of channels with join/leave events.
type hubPresence struct {
	metrics   *metrics
	store     PresenceStore
	channels  []string // patterns: presence on
	joinLeave []string // patterns: join/leave events (and presence) on
	opts      JoinOptions
	maxInfo   int
	unwatch   func()

	mu sync.Mutex // guards subs
	// subs are the outboxes of this hub's connections that get a channel's
	// join and leave events.
	subs map[string]map[*outbox]struct{}
}

// connPresence is what a connection has joined.
type connPresence struct {
	info []byte
	// joined are the channels the connection is listed in. A WebSocket's
	// reader and its end touch it, one after the other; an SSE stream's
	// handler, then its end.
	joined map[string]struct{}
}

func newHubPresence(c *Config, b Broker, m *metrics) *hubPresence {
	p := &hubPresence{
		metrics:   m,
		store:     c.Presence,
		channels:  c.PresenceChannels,
		joinLeave: c.JoinLeaveChannels,
		opts:      JoinOptions{MaxClients: c.MaxPresenceClients, MaxEntries: c.MaxPresenceEntries},
		maxInfo:   c.MaxPresenceInfoBytes,
		subs:      make(map[string]map[*outbox]struct{}),
	}
	if p.store == nil {
		if pp, ok := b.(PresenceProvider); ok {
			p.store = pp.PresenceStore()
		} else {
			p.store = NewMemoryPresence()
		}
	}
	if len(p.joinLeave) > 0 {
		p.unwatch = p.store.Watch(p.deliver)
	}
	return p
}

func (p *hubPresence) close() {
	if p.unwatch != nil {
		p.unwatch()
	}
}

func matchAny(patterns []string, channel string) bool {
	for _, pat := range patterns {
		if MatchChannel(pat, channel, "") {
			return true
		}
	}
	return false
}

// enabled reports whether channel has presence.
func (p *hubPresence) enabled(channel string) bool {
	return matchAny(p.channels, channel) || p.announces(channel)
}

// announces reports whether channel has join/leave events.
func (p *hubPresence) announces(channel string) bool { return matchAny(p.joinLeave, channel) }

// info validates the presence info of a new connection: the identity's, or
// else what the client sent in the "info" query parameter.
func (p *hubPresence) info(id *Identity, query string) ([]byte, error) {
	info := id.Info
	if info == nil && query != "" {
		info = []byte(query)
	}
	if info == nil {
		return nil, nil
	}
	if p.maxInfo > 0 && len(info) > p.maxInfo {
		return nil, shared.NewError(shared.CodeTooLarge, "presence info of "+strconv.Itoa(len(info))+" bytes: the limit is "+strconv.Itoa(p.maxInfo))
	}
	if !shared.ValidJSON(info) {
		return nil, shared.NewError(shared.CodeBadRequest, "presence info is not valid JSON")
	}
	return info, nil
}

// join lists c in those of channels that have presence. On an error, c is
// listed in none of channels. Call it before subscribing c, so that a
// refusal comes before any message, and follow once subscribed.
func (p *hubPresence) join(ctx context.Context, c *conn, channels []string) error {
	var added []string
	for _, ch := range channels {
		if !p.enabled(ch) {
			continue
		}
		if _, ok := c.presence.joined[ch]; ok {
			continue
		}
		o := p.opts
		o.Announce = p.announces(ch)
		err := p.store.Join(ctx, ch, PresenceEntry{Client: c.id, User: c.user, Info: c.presence.info}, o)
		if err != nil {
			p.leave(c, nil, added)
			return err
		}
		if c.presence.joined == nil {
			c.presence.joined = make(map[string]struct{})
		}
		c.presence.joined[ch] = struct{}{}
		added = append(added, ch)
		p.metrics.presenceEntries.Add(1)
		if st, err := p.store.PresenceStats(ctx, ch); err == nil {
			p.metrics.presenceSize.observe(int64(st.Clients))
		}
	}
	return nil
}

// follow makes ob get the join and leave events of those of channels that
// announce them, from now on: not its own join, which came before. A
// client that reads the presence of a channel after its subscribe is
// answered and applies the events to it misses nothing.
func (p *hubPresence) follow(ob *outbox, channels []string) {
	for _, ch := range channels {
		if p.announces(ch) {
			p.watch(ch, ob)
		}
	}
}

// leave removes c from those of channels it is listed in, and ob from
// their events.
func (p *hubPresence) leave(c *conn, ob *outbox, channels []string) {
	for _, ch := range channels {
		if _, ok := c.presence.joined[ch]; !ok {
			continue
		}
		delete(c.presence.joined, ch)
		p.metrics.presenceEntries.Add(-1)
		p.unwatchChannel(ch, ob)
		// A store that cannot be reached forgets the entry on its own (a
		// cluster store's peers time this node out); nothing to retry.
		_ = p.store.Leave(context.Background(), ch, c.id)
	}
}

// leaveAll removes c from every channel it is listed in.
func (p *hubPresence) leaveAll(c *conn, ob *outbox) {
	for ch := range c.presence.joined {
		p.leave(c, ob, []string{ch})
	}
}

func (p *hubPresence) watch(channel string, ob *outbox) {
	p.mu.Lock()
	set := p.subs[channel]
	if set == nil {
		set = make(map[*outbox]struct{})
		p.subs[channel] = set
	}
	set[ob] = struct{}{}
	p.mu.Unlock()
}

func (p *hubPresence) unwatchChannel(channel string, ob *outbox) {
	p.mu.Lock()
	if set := p.subs[channel]; set != nil {
		delete(set, ob)
		if len(set) == 0 {
			delete(p.subs, channel)
		}
	}
	p.mu.Unlock()
}

// deliver queues ev for the local subscribers of its channel, encoded once
// for both wires.
func (p *hubPresence) deliver(ev *PresenceEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := p.subs[ev.Channel]
	if len(set) == 0 {
		return
	}
	pe := newPresenceItem(ev)
	for ob := range set {
		ob.push(item{presence: pe})
	}
}

// presenceItem is a join or leave event as both wires write it.
type presenceItem struct {
	frame []byte // the WebSocket frame
	sse   []byte // the SSE event: duet.join or duet.leave, no id
}

func newPresenceItem(ev *PresenceEvent) *presenceItem {
	f := shared.Frame{Type: shared.TypeJoin, Channel: ev.Channel, Client: ev.Entry.Client, User: ev.Entry.User}
	event := sseJoinEvent
	if ev.Leave {
		f.Type, event = shared.TypeLeave, sseLeaveEvent
	}
	frame := appendJoinLeave(nil, &f)
	return &presenceItem{frame: frame, sse: encodeSSE("", event, frame)}
}

// appendJoinLeave encodes a join or leave frame with its four fields always
// present ("user" is "" for anonymous clients).
func appendJoinLeave(dst []byte, f *shared.Frame) []byte {
	dst = append(dst, `{"type":`...)
	dst = shared.AppendJSONString(dst, f.Type)
	dst = append(dst, `,"channel":`...)
	dst = shared.AppendJSONString(dst, f.Channel)
	dst = append(dst, `,"client":`...)
	dst = shared.AppendJSONString(dst, f.Client)
	dst = append(dst, `,"user":`...)
	dst = shared.AppendJSONString(dst, f.User)
	return append(dst, '}')
}

// SSE events of join/leave.
const (
	sseJoinEvent  = "duet.join"
	sseLeaveEvent = "duet.leave"
)
