package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// presenceConfig authenticates each request as the user its X-User header
// names (anonymous without one), with presence on "room:*" and "quiet:*"
// and join/leave events on "room:*"; "secret:*" has presence but may not be
// subscribed to.
func presenceConfig() Config {
	cfg := testConfig()
	cfg.PresenceChannels = []string{"quiet:*", "secret:*"}
	cfg.JoinLeaveChannels = []string{"room:*"}
	cfg.Authenticate = func(r *http.Request) (Identity, error) {
		id := Anonymous()
		id.Subject = r.Header.Get("X-User")
		id.Subscribe = []string{"room:*", "quiet:*", "plain"}
		return id, nil
	}
	return cfg
}

// openWSAs dials as user and returns the client and its client id.
func (ts *testServer) openWSAs(t *testing.T, user, query string) (*wsClient, string) {
	t.Helper()
	opts := &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: http.Header{"X-User": {user}}, HTTPClient: ts.srv.Client()}
	conn, _, err := websocket.Dial(ctxFor(t), "ws"+strings.TrimPrefix(ts.url, "http")+"/rt/ws?"+query, opts)
	assert.NoError(t, err)
	c := newWSClient(t, conn)
	hello := c.expect(shared.TypeHello)
	assert.True(t, "hello names the client", len(hello.Client) == 16)
	return c, hello.Client
}

// openSSEAs opens an SSE stream as user and returns it and its client id.
func (ts *testServer) openSSEAs(t *testing.T, user, query string) (*sseClient, string) {
	t.Helper()
	c := ts.startSSE(t, nil, query, http.Header{"X-User": {user}})
	ev := c.next()
	assert.Equal(t, "first event", ev.Type, sseHelloEvent)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(t, err)
	return c, f.Client
}

// expectJoinLeave reads a join or leave frame and checks it.
func (c *wsClient) expectJoinLeave(typ, channel, client, user string) {
	c.t.Helper()
	f := c.expect(typ)
	assert.Equal(c.t, typ+" frame", f.Frame, shared.Frame{Type: typ, Channel: channel, Client: client, User: user})
	assert.True(c.t, typ+" carries user even when empty", strings.Contains(f.Raw, `"user":`))
}

// expectJoinLeave reads a duet.join or duet.leave event and checks it; the
// event carries no id, so the stream's last event id stays lastID.
func (c *sseClient) expectJoinLeave(typ, channel, client, user, lastID string) {
	c.t.Helper()
	ev := c.next()
	assert.Equal(c.t, "SSE event", ev.Type, "duet."+typ)
	assert.Equal(c.t, "last event id after duet."+typ, ev.LastEventID, lastID)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, typ+" event", f, shared.Frame{Type: typ, Channel: channel, Client: client, User: user})
}

type presenceBody struct {
	Channel string          `json:"channel"`
	Clients []presenceEntry `json:"clients"`
	Count   int             `json:"count"`
	Users   int             `json:"users"`
}

type presenceEntry struct {
	Client string          `json:"client"`
	User   string          `json:"user"`
	Info   json.RawMessage `json:"info"`
}

// getPresence reads GET /rt/presence?query as user and returns its status
// and body.
func (ts *testServer) getPresence(t *testing.T, user, query string) (int, presenceBody, []byte) {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, "/rt/presence?"+query, http.Header{"X-User": {user}}, "")
	var p presenceBody
	if resp.StatusCode == http.StatusOK {
		assert.NoError(t, json.Unmarshal(body, &p))
		slices.SortFunc(p.Clients, func(a, b presenceEntry) int { return strings.Compare(a.User+a.Client, b.User+b.Client) })
	}
	return resp.StatusCode, p, body
}

// presenceFrame asks for the presence (or stats) of channel over c.
func (c *wsClient) presenceFrame(typ, ref, channel string) wsFrame {
	c.t.Helper()
	c.sendFrame(shared.Frame{Type: typ, Ref: ref, Channel: channel})
	f := c.expect(typ)
	assert.Equal(c.t, "answer ref", f.Ref, ref)
	assert.Equal(c.t, "answer channel", f.Channel, channel)
	return f
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestPresenceWebSocket(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, presenceConfig(), MemoryConfig{})
	ann, annID := ts.openWSAs(t, "ann", "")
	ann.subscribe("1", "", "room:a")

	bob, bobID := ts.openWSAs(t, "bob", "")
	bob.subscribe("1", "", "room:a")
	ann.expectJoinLeave(shared.TypeJoin, "room:a", bobID, "bob")
	// A second connection of bob's: another client of the same user.
	bob2, bob2ID := ts.openWSAs(t, "bob", "")
	bob2.subscribe("1", "", "room:a")
	ann.expectJoinLeave(shared.TypeJoin, "room:a", bob2ID, "bob")
	bob.expectJoinLeave(shared.TypeJoin, "room:a", bob2ID, "bob")

	f := ann.presenceFrame(shared.TypePresence, "p1", "room:a")
	assert.Equal(t, "count", f.Count, int64(3))
	assert.Equal(t, "users", f.Users, int64(2))
	got := f.Clients
	slices.SortFunc(got, func(a, b shared.PresenceEntry) int { return strings.Compare(a.User+a.Client, b.User+b.Client) })
	want := []shared.PresenceEntry{{Client: annID, User: "ann"}, {Client: bobID, User: "bob"}, {Client: bob2ID, User: "bob"}}
	slices.SortFunc(want, func(a, b shared.PresenceEntry) int { return strings.Compare(a.User+a.Client, b.User+b.Client) })
	assert.Equal(t, "clients", got, want)

	s := ann.presenceFrame(shared.TypePresenceStats, "p2", "room:a")
	assert.Equal(t, "stats", s.Frame, shared.Frame{Type: shared.TypePresenceStats, Ref: "p2", Channel: "room:a", Count: 3, Users: 2})
	assert.True(t, "stats carry no list", !strings.Contains(s.Raw, "clients"))

	// Unsubscribing leaves; so does a connection's end.
	bob.sendFrame(shared.Frame{Type: shared.TypeUnsubscribe, Ref: "u", Channels: []string{"room:a"}})
	bob.expect(shared.TypeUnsubscribed)
	ann.expectJoinLeave(shared.TypeLeave, "room:a", bobID, "bob")
	bob2.expectJoinLeave(shared.TypeLeave, "room:a", bobID, "bob")
	bob2.close()
	ann.expectJoinLeave(shared.TypeLeave, "room:a", bob2ID, "bob")
	s = ann.presenceFrame(shared.TypePresenceStats, "p3", "room:a")
	assert.Equal(t, "stats after the leaves", [2]int64{s.Count, s.Users}, [2]int64{1, 1})

	// Join/leave events are not messages: nothing was stored.
	assert.Equal(t, "broker head", ts.broker.Head().Seq, uint64(0))
}

func TestPresenceSSE(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, presenceConfig(), MemoryConfig{})
	id := ts.publish(t, "room:b", "message", `1`)
	info := `{"name":"Ann"}`
	ann, annID := ts.openSSEAs(t, "ann", "channel=room:b&lastEventId="+id+"&info="+url.QueryEscape(info))

	status, p, body := ts.getPresence(t, "", "channel=room:b")
	assert.Equal(t, "status "+string(body), status, http.StatusOK)
	assert.Equal(t, "presence", p, presenceBody{Channel: "room:b", Clients: []presenceEntry{{Client: annID, User: "ann", Info: json.RawMessage(info)}}, Count: 1, Users: 1})

	// A WebSocket client's join and leave reach the SSE stream as
	// duet.join and duet.leave events without an id.
	bob, bobID := ts.openWSAs(t, "", "")
	bob.subscribe("1", "", "room:b")
	ann.expectJoinLeave(shared.TypeJoin, "room:b", bobID, "", "")
	status, p, _ = ts.getPresence(t, "", "channel=room:b&stats=1")
	assert.Equal(t, "status", status, http.StatusOK)
	assert.Equal(t, "stats: anonymous clients are no users", p, presenceBody{Channel: "room:b", Count: 2, Users: 1})
	bob.close()
	ann.expectJoinLeave(shared.TypeLeave, "room:b", bobID, "", "")
	next := ts.publish(t, "room:b", "message", `2`)
	ann.expectIDs(next)

	// The SSE stream's end is its leave.
	carl, carlID := ts.openWSAs(t, "carl", "")
	carl.subscribe("1", "", "room:b")
	ann.expectJoinLeave(shared.TypeJoin, "room:b", carlID, "carl", next)
	ann.close()
	carl.expectJoinLeave(shared.TypeLeave, "room:b", annID, "ann")
	status, p, _ = ts.getPresence(t, "", "channel=room:b")
	assert.Equal(t, "status", status, http.StatusOK)
	assert.Equal(t, "presence after the leave", p, presenceBody{Channel: "room:b", Clients: []presenceEntry{{Client: carlID, User: "carl"}}, Count: 1, Users: 1})
}

// TestPresenceWithoutJoinLeave: a channel with presence but no join/leave
// events lists its clients and sends no events.
func TestPresenceWithoutJoinLeave(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, presenceConfig(), MemoryConfig{})
	ann, annID := ts.openWSAs(t, "ann", "")
	ann.subscribe("1", "", "quiet:x")
	bob, bobID := ts.openWSAs(t, "bob", "")
	bob.subscribe("1", "", "quiet:x")
	f := ann.presenceFrame(shared.TypePresenceStats, "s", "quiet:x")
	assert.Equal(t, "stats", [2]int64{f.Count, f.Users}, [2]int64{2, 2})
	bob.close()
	ts.waitPresence(t, "quiet:x", 1)
	id := ts.publish(t, "quiet:x", "message", `1`)
	ann.expectIDs(id) // no join or leave frame before it
	_, p, _ := ts.getPresence(t, "", "channel=quiet:x")
	assert.Equal(t, "presence", p.Clients, []presenceEntry{{Client: annID, User: "ann"}})
	_ = bobID
}

// waitPresence waits until channel lists n clients.
func (ts *testServer) waitPresence(t *testing.T, channel string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		_, p, _ := ts.getPresence(t, "", "stats=1&channel="+url.QueryEscape(channel))
		if p.Count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence of %s: %d clients, want %d", channel, p.Count, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPresenceRefusals(t *testing.T) {
	t.Parallel()
	cfg := presenceConfig()
	cfg.MaxPresenceClients = 2
	cfg.MaxPresenceEntries = 3
	cfg.MaxPresenceInfoBytes = 16
	ts := newTestServer(t, cfg, MemoryConfig{})

	t.Run("reads", func(t *testing.T) {
		for _, tt := range []struct {
			name, query string
			code        shared.Code
		}{
			{"no presence on the channel", "channel=plain", shared.CodeBadChannel},
			{"bad channel name", "channel=", shared.CodeBadChannel},
			{"no subscribe permission", "channel=secret:x", shared.CodeForbidden},
			{"stats without permission", "channel=secret:x&stats=1", shared.CodeForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, _, body := ts.getPresence(t, "ann", tt.query)
				assert.Equal(t, "status", status, tt.code.HTTPStatus())
				assert.Equal(t, "code in "+string(body), errorBody(t, body), tt.code)
			})
		}
		c, _ := ts.openWSAs(t, "ann", "")
		c.sendFrame(shared.Frame{Type: shared.TypePresence, Ref: "a", Channel: "plain"})
		c.expectError("a", shared.CodeBadChannel)
		c.sendFrame(shared.Frame{Type: shared.TypePresenceStats, Ref: "b", Channel: "secret:x"})
		c.expectError("b", shared.CodeForbidden)
	})

	t.Run("info", func(t *testing.T) {
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=room:i&info="+url.QueryEscape(`{"name":"far too long a name"}`), nil, "")
		assert.Equal(t, "status", resp.StatusCode, http.StatusRequestEntityTooLarge)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeTooLarge)
		resp, body = ts.do(t, http.MethodGet, "/rt/sse?channel=room:i&info=%7B", nil, "")
		assert.Equal(t, "status", resp.StatusCode, http.StatusBadRequest)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeBadRequest)
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
		assert.NoError(t, err)
		_ = conn.CloseNow()
		conn, _, err = websocket.Dial(ctxFor(t), "ws"+strings.TrimPrefix(ts.url, "http")+"/rt/ws?info="+url.QueryEscape(`"0123456789abcdefg"`), &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
		assert.NoError(t, err)
		ws := newWSClient(t, conn)
		code, _ := ws.closeStatus(waitTimeout)
		assert.Equal(t, "close code", code, websocket.StatusCode(shared.CodeTooLarge))
	})

	t.Run("bounds", func(t *testing.T) {
		a, _ := ts.openWSAs(t, "ann", "")
		a.subscribe("1", "", "room:full")
		b, _ := ts.openWSAs(t, "bob", "")
		b.subscribe("1", "", "room:full")
		a.expect(shared.TypeJoin)
		c, _ := ts.openWSAs(t, "carl", "")
		c.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "2", Channels: []string{"room:full"}})
		c.expectError("2", shared.CodeOverloaded)
		// Refused, c is not subscribed: it gets no message of the channel.
		id := ts.publish(t, "room:full", "message", `1`)
		c.sendFrame(shared.Frame{Type: shared.TypePing, Ref: "p"})
		assert.Equal(t, "after the refusal", c.expect(shared.TypePong).Ref, "p")
		a.expectIDs(id)
		b.expectIDs(id)

		// Three entries in all: a fourth, on another channel, is refused;
		// SSE says so before streaming.
		c.subscribe("3", "", "quiet:one")
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=quiet:two", nil, "")
		assert.Equal(t, "status", resp.StatusCode, http.StatusServiceUnavailable)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeOverloaded)
		// A refused subscribe of several channels lists the client in none.
		b.sendFrame(shared.Frame{Type: shared.TypeUnsubscribe, Ref: "u", Channels: []string{"room:full"}})
		b.expect(shared.TypeUnsubscribed)
		ts.waitPresence(t, "room:full", 1)
		c.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "4", Channels: []string{"quiet:a", "quiet:b"}})
		c.expectError("4", shared.CodeOverloaded)
		ts.waitPresence(t, "quiet:a", 0)
		c.subscribe("5", "", "quiet:a")
	})
}
