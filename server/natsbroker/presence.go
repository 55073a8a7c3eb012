package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/internal/presence"
	"github.com/nats-io/nats.go"
)

// Cluster-wide presence: each node owns the entries of its own clients and
// keeps a replica of every other node's, fed over core NATS (no JetStream):
//
//   - a node publishes each change of its own entries as a numbered delta
//     on "<PresenceSubject>.ev", and a heartbeat carrying its last number
//     every PresenceHeartbeat;
//   - a node that hears of a node it has no replica of, or misses a number,
//     asks that node for its entries ("<PresenceSubject>.sync.<node>") and
//     replaces its replica with the answer, sending the joins and leaves
//     the difference makes;
//   - a node that has not been heard of for PresenceTimeout is gone: its
//     entries leave, with leave events, on every node that still runs. A
//     node that closes says goodbye, and leaves at once.
//
// Reads (Presence, PresenceStats) are local and never wait on NATS.

// presenceMsg is a message on "<PresenceSubject>.ev" (Op "join", "leave",
// "beat" or "bye") or a sync answer (Op "sync", with Entries).
type presenceMsg struct {
	Node     string          `json:"node"`
	Seq      uint64          `json:"seq"`
	Op       string          `json:"op"`
	Channel  string          `json:"channel,omitempty"`
	Client   string          `json:"client,omitempty"`
	User     string          `json:"user,omitempty"`
	Info     json.RawMessage `json:"info,omitempty"`
	Announce bool            `json:"announce,omitempty"`
	Entries  []presenceMsg   `json:"entries,omitempty"`
}

// clusterPresence is a natsbroker.Broker's server.PresenceStore.
type clusterPresence struct {
	nc       *nats.Conn
	subject  string // "<PresenceSubject>"
	node     string // this node's id, random per broker
	beat     time.Duration
	timeout  time.Duration
	reqLimit time.Duration
	subs     []*nats.Subscription
	stop     chan struct{}
	wg       sync.WaitGroup // the heartbeat and syncs in flight

	mu       sync.Mutex // guards everything below
	table    presence.Table
	seq      uint64 // the number of this node's last delta
	peers    map[string]*peer
	watchers map[int]func(*server.PresenceEvent)
	next     int
	closed   bool
}

// peer is what a node knows of another.
type peer struct {
	seq      uint64    // the number of its last delta applied
	synced   bool      // its replica is complete up to seq
	syncing  bool      // a sync request is in flight
	lastSeen time.Time // when it was last heard of
}

// PresenceStore implements server.PresenceProvider: the broker's
// cluster-wide store, started on first use and stopped by Close.
func (b *Broker) PresenceStore() server.PresenceStore {
	b.presenceOnce.Do(func() {
		p, err := startPresence(b.nc, &b.cfg)
		if err != nil {
			b.log.Error("duet/natsbroker: presence cannot start: presence is this node's only", "err", err)
			b.presence = server.NewMemoryPresence()
			return
		}
		b.presence = p
	})
	return b.presence
}

func newNodeID() string {
	var r [9]byte
	_, _ = rand.Read(r[:])
	return base64.RawURLEncoding.EncodeToString(r[:])
}

func startPresence(nc *nats.Conn, c *Config) (*clusterPresence, error) {
	p := &clusterPresence{
		nc:       nc,
		subject:  c.PresenceSubject,
		node:     newNodeID(),
		beat:     c.PresenceHeartbeat,
		timeout:  c.PresenceTimeout,
		reqLimit: c.RequestTimeout,
		stop:     make(chan struct{}),
		peers:    make(map[string]*peer),
		watchers: make(map[int]func(*server.PresenceEvent)),
	}
	ev, err := nc.Subscribe(p.subject+".ev", p.onEvent)
	if err != nil {
		return nil, err
	}
	sync, err := nc.Subscribe(p.subject+".sync."+p.node, p.onSync)
	if err != nil {
		_ = ev.Unsubscribe()
		return nil, err
	}
	ev.SetPendingLimits(-1, 64<<20) // a burst of joins must not be dropped as a slow consumer
	p.subs = []*nats.Subscription{ev, sync}
	p.wg.Add(1)
	go p.heartbeat()
	p.publish(&presenceMsg{Op: "beat"}) // peers learn of this node at once
	return p, nil
}

// close says goodbye and stops.
func (p *clusterPresence) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.publish(&presenceMsg{Op: "bye"})
	_ = p.nc.Flush()
	for _, s := range p.subs {
		_ = s.Unsubscribe()
	}
	close(p.stop)
	p.wg.Wait()
}

// publish sends m with this node's id and current number. A failure is
// not retried: peers notice the missing number, or the silence.
func (p *clusterPresence) publish(m *presenceMsg) {
	m.Node = p.node
	if m.Seq == 0 {
		p.mu.Lock()
		m.Seq = p.seq
		p.mu.Unlock()
	}
	data, _ := json.Marshal(m)
	_ = p.nc.Publish(p.subject+".ev", data)
}

// heartbeat beats every p.beat and times out silent peers.
func (p *clusterPresence) heartbeat() {
	defer p.wg.Done()
	t := time.NewTicker(p.beat)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.publish(&presenceMsg{Op: "beat"})
			p.mu.Lock()
			for node, pr := range p.peers {
				if now.Sub(pr.lastSeen) > p.timeout {
					p.dropNodeLocked(node)
				}
			}
			p.mu.Unlock()
		}
	}
}

// Join implements server.PresenceStore. The bounds apply to the whole
// cluster's entries as this node knows them.
func (p *clusterPresence) Join(_ context.Context, channel string, e server.PresenceEntry, o server.JoinOptions) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	replaced, err := p.table.Add(channel, presence.Record{Entry: e, Node: p.node, Announce: o.Announce}, o.MaxClients, o.MaxEntries)
	if err != nil {
		return err
	}
	if o.Announce && !replaced {
		p.notifyLocked(&server.PresenceEvent{Channel: channel, Entry: e})
	}
	p.seq++
	// Published with the lock held, so that deltas leave in number order.
	p.publishLocked(&presenceMsg{Op: "join", Seq: p.seq, Channel: channel, Client: e.Client, User: e.User, Info: e.Info, Announce: o.Announce})
	return nil
}

// Leave implements server.PresenceStore.
func (p *clusterPresence) Leave(_ context.Context, channel, client string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.table.Remove(channel, client)
	if !ok {
		return nil
	}
	if r.Node != p.node {
		// Another node's client: only its node says when it leaves.
		_, _ = p.table.Add(channel, r, 0, 0)
		return nil
	}
	if r.Announce {
		p.notifyLocked(&server.PresenceEvent{Leave: true, Channel: channel, Entry: r.Entry})
	}
	p.seq++
	p.publishLocked(&presenceMsg{Op: "leave", Seq: p.seq, Channel: channel, Client: client})
	return nil
}

func (p *clusterPresence) publishLocked(m *presenceMsg) {
	m.Node = p.node
	data, _ := json.Marshal(m)
	_ = p.nc.Publish(p.subject+".ev", data)
}

// Presence implements server.PresenceStore.
func (p *clusterPresence) Presence(_ context.Context, channel string) ([]server.PresenceEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.table.List(channel), nil
}

// PresenceStats implements server.PresenceStore.
func (p *clusterPresence) PresenceStats(_ context.Context, channel string) (server.PresenceStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, u := p.table.Stats(channel)
	return server.PresenceStats{Clients: c, Users: u}, nil
}

// Watch implements server.PresenceStore: fn hears the joins and leaves of
// every node's announced entries, from this node's replica.
func (p *clusterPresence) Watch(fn func(*server.PresenceEvent)) (stop func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.next
	p.next++
	p.watchers[id] = fn
	return func() {
		p.mu.Lock()
		delete(p.watchers, id)
		p.mu.Unlock()
	}
}

func (p *clusterPresence) notifyLocked(ev *server.PresenceEvent) {
	for _, fn := range p.watchers {
		fn(ev)
	}
}

// onEvent applies another node's delta, heartbeat or goodbye.
func (p *clusterPresence) onEvent(msg *nats.Msg) {
	var m presenceMsg
	if json.Unmarshal(msg.Data, &m) != nil || m.Node == p.node || m.Node == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if m.Op == "bye" {
		p.dropNodeLocked(m.Node)
		return
	}
	pr := p.peers[m.Node]
	if pr == nil {
		pr = &peer{}
		p.peers[m.Node] = pr
	}
	pr.lastSeen = time.Now()
	switch {
	case !pr.synced:
		// The answer to the sync covers this.
	case m.Seq <= pr.seq:
		// Already applied, or covered by a sync answer that came first.
		return
	case m.Op == "beat" || m.Seq > pr.seq+1:
		// A beat with a number we have not reached, or a hole: a delta
		// was lost.
		pr.synced = false
	default:
		pr.seq = m.Seq
		p.applyLocked(&m)
		return
	}
	p.syncLocked(m.Node, pr)
}

// applyLocked applies another node's join or leave to the replica.
func (p *clusterPresence) applyLocked(m *presenceMsg) {
	switch m.Op {
	case "join":
		e := server.PresenceEntry{Client: m.Client, User: m.User, Info: m.Info}
		replaced, _ := p.table.Add(m.Channel, presence.Record{Entry: e, Node: m.Node, Announce: m.Announce}, 0, 0)
		if m.Announce && !replaced {
			p.notifyLocked(&server.PresenceEvent{Channel: m.Channel, Entry: e})
		}
	case "leave":
		if r, ok := p.table.Remove(m.Channel, m.Client); ok && r.Announce {
			p.notifyLocked(&server.PresenceEvent{Leave: true, Channel: m.Channel, Entry: r.Entry})
		}
	}
}

// syncLocked asks node for its entries, unless a request is in flight.
func (p *clusterPresence) syncLocked(node string, pr *peer) {
	if pr.syncing {
		return
	}
	pr.syncing = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.reqLimit)
		defer cancel()
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		reply, err := p.nc.RequestWithContext(ctx, p.subject+".sync."+node, nil)
		var m presenceMsg
		if err == nil {
			err = json.Unmarshal(reply.Data, &m)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		pr.syncing = false
		if err != nil || p.closed || p.peers[node] != pr {
			return // the next beat asks again, or the node is gone
		}
		p.replaceLocked(node, &m)
		pr.seq, pr.synced = m.Seq, true
	}()
}

// onSync answers another node's request for this node's entries.
func (p *clusterPresence) onSync(msg *nats.Msg) {
	p.mu.Lock()
	own := p.table.Node(p.node)
	m := presenceMsg{Node: p.node, Seq: p.seq, Op: "sync", Entries: make([]presenceMsg, 0, len(own))}
	for _, r := range own {
		m.Entries = append(m.Entries, presenceMsg{Channel: r.Channel, Client: r.Entry.Client, User: r.Entry.User, Info: r.Entry.Info, Announce: r.Announce})
	}
	p.mu.Unlock()
	data, _ := json.Marshal(&m)
	_ = msg.Respond(data)
}

// replaceLocked makes node's replica what its sync answer says, with the
// joins and leaves that makes.
func (p *clusterPresence) replaceLocked(node string, m *presenceMsg) {
	type key struct{ channel, client string }
	now := make(map[key]*presenceMsg, len(m.Entries))
	for i := range m.Entries {
		e := &m.Entries[i]
		now[key{e.Channel, e.Client}] = e
	}
	for _, r := range p.table.Node(node) {
		if _, ok := now[key{r.Channel, r.Entry.Client}]; !ok {
			p.applyLocked(&presenceMsg{Op: "leave", Node: node, Channel: r.Channel, Client: r.Entry.Client})
		}
	}
	for _, e := range now {
		e.Op, e.Node = "join", node
		p.applyLocked(e)
	}
}

// dropNodeLocked forgets node: its entries leave, with their events.
func (p *clusterPresence) dropNodeLocked(node string) {
	delete(p.peers, node)
	for _, r := range p.table.RemoveNode(node) {
		if r.Announce {
			p.notifyLocked(&server.PresenceEvent{Leave: true, Channel: r.Channel, Entry: r.Entry})
		}
	}
}
