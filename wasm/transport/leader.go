package transport

import (
	"slices"

	"github.com/duet-rt/duet/shared"
)

type tabInfo struct {
	channels  []string
	confirmed bool
}

var errLeaderLost = shared.NewError(shared.CodeAbnormal, "duet/transport: the leading tab went away before the server acknowledged the publish; it may or may not have been published")

// Lead makes this tab the leader: the binding calls it when the tab got the
// origin's lock. It opens the connection with the channels of every tab it
// knows of, resuming from the last id it saw.
func (cl *Client) Lead() {
	cl.lock()
	defer cl.unlock()
	if cl.closed || cl.leading || cl.suspended {
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
		cl.setStateLocked(StateReconnecting, cl.kind)
	}
	cfg := cl.cfg
	cfg.Channels = cl.unionLocked()
	cfg.LastEventID = cl.cursor.Last()
	obs := &leaderObserver{cl: cl}
	conn, err := newConn(cl.ep, &cfg, Env{Dialer: cl.d, Clock: cl.clk, Observer: obs})
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
		cl.prune = cl.clk.AfterFunc(cl.opts.ConfirmWithin, cl.pruneDue)
		cl.postLocked(&busMsg{state: cl.state, wire: cl.kind, f: shared.Frame{Type: busLeader, Client: cl.connClientID()}})
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
	cl.postLocked(&busMsg{state: s, wire: k, f: shared.Frame{Type: busState, Client: o.conn.ClientID()}})
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
	if cl.closed || !cl.started || cl.suspended || m.from == cl.id || (m.to != "" && m.to != cl.id) {
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
			cl.postLocked(&busMsg{state: cl.state, wire: cl.kind, f: shared.Frame{Type: busLeader, Client: cl.connClientID()}})
		}
	case busTabBye:
		delete(cl.tabs, m.from)
		cl.updateUnionLocked()
		if m.from == cl.leader && !cl.leading {
			cl.leaderGoneLocked()
		}
	case busLeader, busState:
		cl.followLocked(m.from, m.state, m.wire)
		if m.from == cl.leader {
			cl.clientID = f.Client
		}
	case shared.TypeJoin, shared.TypeLeave:
		if m.from == cl.leader && !cl.leading {
			cl.joinLeaveLocked(f)
		}
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
		cl.setStateLocked(StateReconnecting, cl.kind)
	} else {
		cl.setStateLocked(StateConnecting, cl.kind)
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
