package transport

import (
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// Presence (PROTOCOL.md §9): the connection's client id, reading who is in
// a channel (a presence frame on a live WebSocket, GET /rt/presence
// otherwise), and the join and leave events of the channels held.

// A PresenceObserver is an [Observer] that also hears the join and leave
// events of the channels held (of this tab's channels, for a [Client]).
type PresenceObserver interface {
	Observer
	// JoinLeave reports one join or leave: f.Type is shared.TypeJoin or
	// shared.TypeLeave, with Channel, Client and User.
	JoinLeave(f *shared.Frame)
}

// query is a presence request sent on a WebSocket, awaiting its answer.
type query struct {
	done  func(body []byte, err error)
	timer Timer
}

// PresenceURL returns the URL of GET /rt/presence for channel.
func (e *Endpoints) PresenceURL(channel string, stats bool) string {
	b := append([]byte(e.Base), "/rt/presence?channel="...)
	b = appendQueryEscape(b, channel)
	if stats {
		b = append(b, "&stats=1"...)
	}
	return string(b)
}

// ClientID returns the client id the server gave the connection in its
// last hello ("" before the first).
func (c *Conn) ClientID() string {
	id, _ := c.clientID.Load().(string)
	return id
}

// Presence reads who is in channel, or with stats only how many, and calls
// done with the answer as JSON, {"channel","clients"?,"count","users"}, or
// with an error (a *shared.Error).
func (c *Conn) Presence(channel string, stats bool, done func(body []byte, err error)) {
	c.lock()
	defer c.unlock()
	if err := shared.ValidateChannel(channel); err != nil {
		c.later(func() { done(nil, err) })
		return
	}
	a := c.cur
	if a == nil || !a.live || a.kind != KindWebSocket {
		getPresence(&c.session, channel, stats, done)
		return
	}
	typ := shared.TypePresence
	if stats {
		typ = shared.TypePresenceStats
	}
	ref := c.nextRef('q')
	q := &query{done: done}
	if c.queries == nil {
		c.queries = make(map[string]*query)
	}
	c.queries[ref] = q
	q.timer = c.clk.AfterFunc(c.cfg.PublishTimeout, func() {
		c.lock()
		defer c.unlock()
		if c.queries[ref] == q {
			delete(c.queries, ref)
			c.later(func() {
				done(nil, shared.NewError(shared.CodeTryAgainLater, "duet/transport: presence: no answer within "+c.cfg.PublishTimeout.String()))
			})
		}
	})
	c.sendRawLocked(a, shared.AppendFrame(nil, &shared.Frame{Type: typ, Ref: ref, Channel: channel}), false)
}

// getPresence reads presence with GET /rt/presence, from the caller's
// lock's outbox.
func getPresence(s *session, channel string, stats bool, done func(body []byte, err error)) {
	url := s.ep.PresenceURL(channel, stats)
	s.later(func() {
		s.d.Get(url, func(status int, body []byte, err error) {
			switch {
			case err != nil:
				done(nil, shared.NewError(shared.CodeTryAgainLater, "duet/transport: presence: "+err.Error()))
			case status != 200:
				done(nil, CodeOfHTTP(status, body))
			default:
				done(body, nil)
			}
		})
	})
}

// presenceFrameLocked acts on a presence answer, a join or a leave, or an
// error answering a presence request; it reports whether f was one.
func (c *Conn) presenceFrameLocked(f *shared.Frame) bool {
	switch f.Type {
	case shared.TypePresence, shared.TypePresenceStats, shared.TypeError:
		q := c.queries[f.Ref]
		if q == nil {
			return false
		}
		delete(c.queries, f.Ref)
		q.timer.Stop()
		if f.Type == shared.TypeError {
			err := shared.NewError(f.Code, f.Message)
			c.later(func() { q.done(nil, err) })
			return true
		}
		body := appendPresenceBody(nil, f)
		c.later(func() { q.done(body, nil) })
		return true
	case shared.TypeJoin, shared.TypeLeave:
		if po, ok := c.obs.(PresenceObserver); ok && c.hasChannel(f.Channel) {
			ev := *f
			c.later(func() { po.JoinLeave(&ev) })
		}
		return true
	}
	return false
}

// appendPresenceBody appends the body GET /rt/presence would have answered
// with the fields of presence frame f.
func appendPresenceBody(dst []byte, f *shared.Frame) []byte {
	dst = append(dst, `{"channel":`...)
	dst = shared.AppendJSONString(dst, f.Channel)
	if f.Type == shared.TypePresence {
		dst = append(dst, `,"clients":`...)
		dst = shared.AppendPresenceEntries(dst, f.Clients)
	}
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, f.Count, 10)
	dst = append(dst, `,"users":`...)
	dst = strconv.AppendInt(dst, f.Users, 10)
	return append(dst, '}')
}

// ClientID returns the client id of the connection this tab rides on: its
// own, or the leader's.
func (cl *Client) ClientID() string {
	cl.lock()
	defer cl.unlock()
	if cl.leading && cl.conn != nil {
		return cl.conn.ClientID()
	}
	return cl.clientID
}

// Presence reads presence like [Conn.Presence]: through this tab's
// connection when it leads, else with GET /rt/presence.
func (cl *Client) Presence(channel string, stats bool, done func(body []byte, err error)) {
	cl.lock()
	defer cl.unlock()
	if cl.leading && cl.conn != nil {
		conn := cl.conn
		cl.later(func() { conn.Presence(channel, stats, done) })
		return
	}
	if err := shared.ValidateChannel(channel); err != nil {
		cl.later(func() { done(nil, err) })
		return
	}
	getPresence(&cl.session, channel, stats, done)
}

// joinLeaveLocked hands a join or leave to the application if it is of
// one of this tab's channels.
func (cl *Client) joinLeaveLocked(f *shared.Frame) {
	po, ok := cl.obs.(PresenceObserver)
	if !ok || !inSet(cl.own, f.Channel) {
		return
	}
	ev := *f
	cl.later(func() { po.JoinLeave(&ev) })
}

// JoinLeave relays a join or leave the leader's connection heard.
func (o *leaderObserver) JoinLeave(f *shared.Frame) {
	cl := o.cl
	cl.lock()
	defer cl.unlock()
	if cl.conn != o.conn || cl.closed {
		return
	}
	cl.postLocked(&busMsg{f: *f})
	cl.joinLeaveLocked(f)
}

// connClientID is the client id of the leader's own connection ("" when
// it has none yet).
func (cl *Client) connClientID() string {
	if cl.conn == nil {
		return ""
	}
	return cl.conn.ClientID()
}
