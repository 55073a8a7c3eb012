package server

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/duet-rt/duet/shared"
)

// Server-side control: the application ends connections and subscriptions
// (by client id or by user), publishes one message to many channels, and
// lists the channels in use. Over a ControlBroker (natsbroker.Broker) a
// disconnect or unsubscribe issued on one node reaches the connections of
// every node.

// Disconnect is how the server ends a connection: the close code its
// client gets (a WebSocket close frame, an SSE "duet.close" event) and why.
// It is also the cancellation cause of the connections it ends.
type Disconnect struct {
	// Code is shared.CodeDisconnected (the client reconnects and resumes)
	// or shared.CodeRevoked (it stops), or any code of 4000–4999: the
	// client follows its Action. Zero means CodeDisconnected.
	Code shared.Code
	// Reason is told to the client; at most 123 bytes reach a WebSocket
	// client (a close frame's limit).
	Reason string
}

func (d *Disconnect) Error() string {
	return "duet/server: disconnected by the server (" + strconv.Itoa(int(d.Code)) + "): " + d.Reason
}

// normalize fills the default code and checks the code's range.
func (d Disconnect) normalize() (Disconnect, error) {
	if d.Code == 0 {
		d.Code = shared.CodeDisconnected
	}
	if d.Code < 4000 || d.Code > 4999 {
		return d, shared.NewError(shared.CodeBadRequest, "disconnect code must be in 4000–4999 (4006 reconnect, 4410 stop)")
	}
	if d.Reason == "" {
		d.Reason = d.Code.String()
	}
	d.Reason = truncateReason(d.Reason)
	return d, nil
}

// A ControlBroker carries control messages between the hubs of a cluster.
// natsbroker.Broker is one; over another broker, control reaches this
// hub's connections only.
type ControlBroker interface {
	Broker
	// SendControl hands msg to the OnControl handlers of every node but
	// this one, as soon as it can (it does not wait for them).
	SendControl(ctx context.Context, msg []byte) error
	// OnControl registers f for the control messages of other nodes and
	// returns a function that removes it. f must not block for long.
	OnControl(f func(msg []byte)) (remove func())
}

// controlMsg is a control message on the wire between nodes.
type controlMsg struct {
	Op      string      `json:"op"` // "disconnect" or "unsubscribe"
	Client  string      `json:"client,omitempty"`
	User    string      `json:"user,omitempty"`
	Channel string      `json:"channel,omitempty"`
	Code    shared.Code `json:"code,omitempty"`
	Reason  string      `json:"reason,omitempty"`
}

// A Target names the connections a control action applies to: one client
// id, or every connection of a user (an Identity's Subject). Exactly one
// is set.
type Target struct {
	Client string
	User   string
}

func (t Target) check() error {
	if (t.Client == "") == (t.User == "") {
		return shared.NewError(shared.CodeBadRequest, "name exactly one of a client id and a user")
	}
	return nil
}

// matches reports whether c is one of t's connections.
func (t Target) matches(c *conn) bool {
	if t.Client != "" {
		return c.id == t.Client
	}
	return c.user == t.User
}

// DisconnectClients ends the connections of t on every node with d, and
// returns how many of this node's it ended (other nodes are told over the
// broker and do not answer).
func (h *Hub) DisconnectClients(ctx context.Context, t Target, d Disconnect) (int, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	d, err := d.normalize()
	if err != nil {
		return 0, err
	}
	n := h.disconnectLocal(t, d)
	return n, h.sendControl(ctx, controlMsg{Op: "disconnect", Client: t.Client, User: t.User, Code: d.Code, Reason: d.Reason})
}

// UnsubscribeClients removes channel from the connections of t on every
// node, and returns how many of this node's held it. A WebSocket client
// gets an "unsubscribed" frame without ref; an SSE stream just stops
// carrying the channel. A client that reconnects subscribes again unless
// Config.Authorize refuses it: revoke the permission as well.
func (h *Hub) UnsubscribeClients(ctx context.Context, t Target, channel string) (int, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	if err := shared.ValidateChannel(channel); err != nil {
		return 0, err
	}
	n := h.unsubscribeLocal(t, channel)
	return n, h.sendControl(ctx, controlMsg{Op: "unsubscribe", Client: t.Client, User: t.User, Channel: channel})
}

func (h *Hub) disconnectLocal(t Target, d Disconnect) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.conns {
		if t.matches(c) {
			c.cancel(&d)
			n++
		}
	}
	return n
}

func (h *Hub) unsubscribeLocal(t Target, channel string) int {
	h.mu.Lock()
	var revokes []func(string) bool
	for _, c := range h.conns {
		if t.matches(c) && c.revoke != nil {
			revokes = append(revokes, c.revoke)
		}
	}
	h.mu.Unlock()
	n := 0
	for _, revoke := range revokes {
		if revoke(channel) {
			n++
		}
	}
	return n
}

// sendControl tells the other nodes, if the broker carries control.
func (h *Hub) sendControl(ctx context.Context, m controlMsg) error {
	cb, ok := h.broker.(ControlBroker)
	if !ok {
		return nil
	}
	p, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return cb.SendControl(ctx, p)
}

// listenControl applies the control messages of other nodes to this hub's
// connections, until the returned function is called.
func (h *Hub) listenControl() (stop func()) {
	cb, ok := h.broker.(ControlBroker)
	if !ok {
		return func() {}
	}
	return cb.OnControl(func(p []byte) {
		var m controlMsg
		if err := json.Unmarshal(p, &m); err != nil {
			h.cfg.Logger.Warn("duet: bad control message", "err", err)
			return
		}
		t := Target{Client: m.Client, User: m.User}
		if t.check() != nil {
			return
		}
		switch m.Op {
		case "disconnect":
			if d, err := (Disconnect{Code: m.Code, Reason: m.Reason}).normalize(); err == nil {
				h.disconnectLocal(t, d)
			}
		case "unsubscribe":
			if shared.ValidateChannel(m.Channel) == nil {
				h.unsubscribeLocal(t, m.Channel)
			}
		}
	})
}

// Broadcast publishes one message to each of channels (at most
// Config.MaxBroadcastChannels, no duplicates) and returns their ids, in the
// order of channels. It stops at the first failure: the ids before it were
// published. With an idempotency key, each channel's publish is keyed, so
// a retried Broadcast publishes each channel once.
func (h *Hub) Broadcast(ctx context.Context, channels []string, event string, data []byte, opts ...PublishOption) ([]shared.ID, error) {
	if len(channels) == 0 || len(channels) > h.cfg.MaxBroadcastChannels {
		return nil, shared.NewError(shared.CodeTooManyChannels, "broadcast to 1–"+strconv.Itoa(h.cfg.MaxBroadcastChannels)+" channels")
	}
	for i, c := range channels {
		if err := shared.ValidateChannel(c); err != nil {
			return nil, err
		}
		if slices.Contains(channels[:i], c) {
			return nil, shared.NewError(shared.CodeBadRequest, "channel "+quote(c)+" is listed twice")
		}
	}
	o := collectPublishOptions(opts)
	ids := make([]shared.ID, 0, len(channels))
	for _, c := range channels {
		id, err := h.publish(ctx, c, event, data, o)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ChannelCount is a channel in use on this node and its subscribers (one
// per connection holding it).
type ChannelCount struct {
	Channel     string `json:"channel"`
	Subscribers int    `json:"subscribers"`
}

// Channels lists the channels this node's connections hold whose names
// start with prefix ("" for all), by name, with their subscriber counts.
func (h *Hub) Channels(prefix string) []ChannelCount {
	h.mu.Lock()
	var helds []func() []string
	for _, c := range h.conns {
		if c.held != nil {
			helds = append(helds, c.held)
		}
	}
	h.mu.Unlock()
	counts := make(map[string]int)
	for _, held := range helds {
		for _, ch := range held() {
			if strings.HasPrefix(ch, prefix) {
				counts[ch]++
			}
		}
	}
	out := make([]ChannelCount, 0, len(counts))
	for ch, n := range counts {
		out = append(out, ChannelCount{Channel: ch, Subscribers: n})
	}
	slices.SortFunc(out, func(a, b ChannelCount) int { return strings.Compare(a.Channel, b.Channel) })
	return out
}

// sseChannels are an SSE stream's channels as server-side control sees
// them: fixed by the request, less those revoked.
type sseChannels struct {
	mu  sync.Mutex // guards set
	set map[string]struct{}
}

func newSSEChannels(channels []string) *sseChannels {
	s := &sseChannels{set: make(map[string]struct{}, len(channels))}
	for _, c := range channels {
		s.set[c] = struct{}{}
	}
	return s
}

// revoke removes channel and reports whether the stream held it.
func (s *sseChannels) revoke(channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[channel]
	delete(s.set, channel)
	return ok
}

func (s *sseChannels) held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.set))
	for c := range s.set {
		out = append(out, c)
	}
	return out
}

// controlSSE lets server-side control reach an SSE stream c subscribed to
// channels through sub.
func (h *Hub) controlSSE(c *conn, sub Subscriber, channels []string) {
	set := newSSEChannels(channels)
	h.mu.Lock()
	defer h.mu.Unlock()
	c.held = set.held
	c.revoke = func(channel string) bool {
		if !set.revoke(channel) {
			return false
		}
		h.broker.Unsubscribe(sub, channel)
		return true
	}
}

// controlWS lets server-side control reach the WebSocket wc.
func (h *Hub) controlWS(wc *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wc.conn.held = wc.heldChannels
	wc.conn.revoke = wc.revoke
}

// heldChannels lists the channels wc holds.
func (wc *wsConn) heldChannels() []string {
	wc.chMu.Lock()
	defer wc.chMu.Unlock()
	out := make([]string, 0, len(wc.channels))
	for c := range wc.channels {
		out = append(out, c)
	}
	return out
}

// revoke drops channel from wc and tells the client with an unsubscribed
// frame without ref; it reports whether wc held it.
func (wc *wsConn) revoke(channel string) bool {
	wc.chMu.Lock()
	_, ok := wc.channels[channel]
	delete(wc.channels, channel)
	wc.chMu.Unlock()
	if !ok {
		return false
	}
	wc.h.broker.Unsubscribe(wc.ob, channel)
	wc.reply(shared.Frame{Type: shared.TypeUnsubscribed, Channels: []string{channel}, Reason: "the server removed this subscription"})
	return true
}
