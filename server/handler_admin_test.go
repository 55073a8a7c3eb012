package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

const testAdminKey = "0123456789abcdef-admin"

// newAdminServer is a test server with the admin API on, whose requests
// name their user in an X-User header.
func newAdminServer(t *testing.T) *testServer {
	t.Helper()
	cfg := testConfig()
	cfg.AdminKey = testAdminKey
	cfg.MaxAdminBytes = 4096
	cfg.MaxBroadcastChannels = 3
	cfg.Authenticate = func(r *http.Request) (Identity, error) {
		id := Anonymous()
		id.Subject = r.Header.Get("X-User")
		return id, nil
	}
	return newTestServer(t, cfg, MemoryConfig{})
}

func adminHeader(key string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

// admin calls the admin API with the right key and decodes a 200 answer.
func (ts *testServer) admin(t *testing.T, method, path, body string, out any) {
	t.Helper()
	resp, p := ts.do(t, method, path, adminHeader(testAdminKey), body)
	assert.Equal(t, path+" status ("+string(p)+")", resp.StatusCode, http.StatusOK)
	assert.NoError(t, json.Unmarshal(p, out))
}

// TestAdminRefusals: without Config.AdminKey there is no admin API; with
// it, every endpoint refuses a request without the key or with a wrong one,
// and a body over the limit.
func TestAdminRefusals(t *testing.T) {
	off := newTestServer(t, testConfig(), MemoryConfig{})
	resp, _ := off.do(t, http.MethodGet, "/rt/admin/channels", adminHeader(testAdminKey), "")
	assert.Equal(t, "admin API without a key configured", resp.StatusCode, http.StatusNotFound)

	_, err := NewHub(&Config{AdminKey: "short"})
	assert.True(t, "a short admin key is refused", err != nil)

	ts := newAdminServer(t)
	for _, ep := range []struct{ method, path, body string }{
		{http.MethodPost, "/rt/admin/disconnect", `{"user":"u"}`},
		{http.MethodPost, "/rt/admin/unsubscribe", `{"user":"u","channel":"c"}`},
		{http.MethodPost, "/rt/admin/broadcast", `{"channels":["c"],"data":1}`},
		{http.MethodGet, "/rt/admin/channels", ``},
		{http.MethodGet, "/rt/admin/history?channel=c", ``},
	} {
		for _, key := range []string{"", "wrong-key-wrong-key", testAdminKey + "x", strings.ToUpper(testAdminKey)} {
			resp, body := ts.do(t, ep.method, ep.path, adminHeader(key), ep.body)
			assert.Equal(t, ep.path+" with key "+key, resp.StatusCode, http.StatusUnauthorized)
			assert.Equal(t, ep.path+" code", errorBody(t, body), shared.CodeUnauthorized)
			assert.Contains(t, "WWW-Authenticate", resp.Header.Get("WWW-Authenticate"), "Bearer")
		}
	}
	resp, body := ts.do(t, http.MethodPost, "/rt/admin/broadcast", adminHeader(testAdminKey), `{"channels":["c"],"data":"`+strings.Repeat("x", 5000)+`"}`)
	assert.Equal(t, "a body over MaxAdminBytes", resp.StatusCode, http.StatusRequestEntityTooLarge)
	assert.Equal(t, "code", errorBody(t, body), shared.CodeTooLarge)
	resp, _ = ts.do(t, http.MethodGet, "/rt/admin/disconnect", adminHeader(testAdminKey), "")
	assert.Equal(t, "GET on a POST endpoint", resp.StatusCode, http.StatusMethodNotAllowed)
}

// TestAdminDisconnect: by client id and by user, with a reconnect or a stop
// code the client is told.
func TestAdminDisconnect(t *testing.T) {
	ts := newAdminServer(t)
	a1, a1id := ts.openWSAs(t, "alice", "")
	a2, _ := ts.openWSAs(t, "alice", "")
	b, _ := ts.openWSAs(t, "bob", "")
	sse := ts.openSSE(t, "channel=c", http.Header{"X-User": {"alice"}})

	var out struct{ Disconnected int }
	ts.admin(t, http.MethodPost, "/rt/admin/disconnect", `{"client":"`+a1id+`","reason":"moved"}`, &out)
	assert.Equal(t, "by client id", out.Disconnected, 1)
	code, _ := a1.closeStatus(5 * time.Second)
	assert.Equal(t, "close code (default: reconnect)", shared.Code(code), shared.CodeDisconnected)
	assert.Equal(t, "its action", shared.Code(code).Action(), shared.ActionReconnect)
	// The hub forgets a connection once it is torn down, a moment after
	// its client saw the close: until then it would be counted again.
	ts.waitMetric(t, `duet_connections{wire="ws"}`, 5*time.Second, equals(2))

	ts.admin(t, http.MethodPost, "/rt/admin/disconnect", `{"user":"alice","code":4410,"reason":"account closed"}`, &out)
	assert.Equal(t, "by user: alice's WebSocket and SSE stream", out.Disconnected, 2)
	code, _ = a2.closeStatus(5 * time.Second)
	assert.Equal(t, "close code", shared.Code(code), shared.CodeRevoked)
	assert.Equal(t, "its action", shared.Code(code).Action(), shared.ActionStop)
	var closeEv string
	for _, ev := range sse.end(5 * time.Second) {
		if ev.Type == sseCloseEvent {
			closeEv = ev.Data
		}
	}
	assert.Contains(t, "SSE close event", closeEv, `"code":4410`)
	assert.Contains(t, "SSE close reason", closeEv, "account closed")

	// bob is still there.
	b.send(`{"type":"ping","ref":"p"}`)
	b.expect(shared.TypePong)

	for _, body := range []string{`{}`, `{"client":"x","user":"y"}`, `{"user":"bob","code":1000}`, `{"user":"bob","code":"x"}`} {
		resp, p := ts.do(t, http.MethodPost, "/rt/admin/disconnect", adminHeader(testAdminKey), body)
		assert.Equal(t, body+" status", resp.StatusCode, http.StatusBadRequest)
		assert.Equal(t, body+" code", errorBody(t, p), shared.CodeBadRequest)
	}
}

// TestAdminUnsubscribe: the channel leaves the target's connections, which
// stop receiving it; a WebSocket client is told.
func TestAdminUnsubscribe(t *testing.T) {
	ts := newAdminServer(t)
	a, _ := ts.openWSAs(t, "alice", "")
	a.subscribe("s", "", "news", "other")
	sse := ts.openSSE(t, "channel=news", http.Header{"X-User": {"alice"}})
	b, bid := ts.openWSAs(t, "bob", "")
	b.subscribe("s", "", "news")

	var out struct{ Unsubscribed int }
	ts.admin(t, http.MethodPost, "/rt/admin/unsubscribe", `{"user":"alice","channel":"news"}`, &out)
	assert.Equal(t, "alice's WebSocket and SSE stream", out.Unsubscribed, 2)
	f := a.expect(shared.TypeUnsubscribed)
	assert.Equal(t, "told", []any{f.Ref, f.Channels}, []any{"", []string{"news"}})
	ts.admin(t, http.MethodPost, "/rt/admin/unsubscribe", `{"client":"`+bid+`","channel":"news"}`, &out)
	assert.Equal(t, "bob by client id", out.Unsubscribed, 1)
	b.expect(shared.TypeUnsubscribed)

	ts.publish(t, "news", "", `1`)
	other := ts.publish(t, "other", "", `2`)
	a.expectIDs(other) // not news
	// Delivery is synchronous with the in-memory broker: anything due has
	// been queued by now; give the writers a moment.
	time.Sleep(300 * time.Millisecond)
	select {
	case ev := <-sse.events:
		t.Fatalf("the SSE stream still got %q", ev.Data)
	case f := <-b.frames:
		t.Fatalf("bob still got %s", f.Raw)
	default:
	}
	// The client may subscribe again (its permission is the app's).
	a.subscribe("again", "", "news")
	id := ts.publish(t, "news", "", `3`)
	a.expectIDs(id)
}

// TestAdminBroadcast: one message to many channels, ids in their order; a
// retry with the same Idempotency-Key publishes nothing new.
func TestAdminBroadcast(t *testing.T) {
	ts := newAdminServer(t)
	c := ts.openWS(t)
	c.subscribe("s", "", "a", "b", "c")
	var out struct{ IDs []string }
	h := adminHeader(testAdminKey)
	h.Set("Idempotency-Key", "bc-1")
	for range 2 {
		resp, p := ts.do(t, http.MethodPost, "/rt/admin/broadcast", h, `{"channels":["a","b","c"],"event":"note","data":{"x":1}}`)
		assert.Equal(t, "status "+string(p), resp.StatusCode, http.StatusOK)
		assert.NoError(t, json.Unmarshal(p, &out))
		assert.Equal(t, "ids", out.IDs, []string{idOf(1), idOf(2), idOf(3)})
	}
	c.expectIDs(idOf(1), idOf(2), idOf(3))
	for _, tt := range []struct {
		body string
		code shared.Code
	}{
		{`{"channels":["a","b","c","d"],"data":1}`, shared.CodeTooManyChannels},
		{`{"channels":[],"data":1}`, shared.CodeTooManyChannels},
		{`{"channels":["a","a"],"data":1}`, shared.CodeBadRequest},
		{`{"channels":["bad name"],"data":1}`, shared.CodeBadChannel},
		{`{"channels":["a"]}`, shared.CodeBadRequest},
	} {
		_, p := ts.do(t, http.MethodPost, "/rt/admin/broadcast", adminHeader(testAdminKey), tt.body)
		assert.Equal(t, tt.body, errorBody(t, p), tt.code)
	}
}

// TestAdminChannels: the channels held on this node, with subscriber
// counts, filtered by prefix.
func TestAdminChannels(t *testing.T) {
	ts := newAdminServer(t)
	a := ts.openWS(t)
	a.subscribe("s", "", "room:1", "room:2", "lobby")
	b := ts.openWS(t)
	b.subscribe("s", "", "room:1")
	ts.openSSE(t, "channel=room:1&channel=lobby", nil)

	var out struct{ Channels []ChannelCount }
	ts.admin(t, http.MethodGet, "/rt/admin/channels", "", &out)
	assert.Equal(t, "all", out.Channels, []ChannelCount{{"lobby", 2}, {"room:1", 3}, {"room:2", 1}})
	ts.admin(t, http.MethodGet, "/rt/admin/channels?prefix=room:", "", &out)
	assert.Equal(t, "by prefix", out.Channels, []ChannelCount{{"room:1", 3}, {"room:2", 1}})
	a.close()
	ts.waitMetric(t, `duet_connections{wire="ws"}`, 5*time.Second, equals(1))
	ts.admin(t, http.MethodGet, "/rt/admin/channels?prefix=room:", "", &out)
	assert.Equal(t, "after a connection left", out.Channels, []ChannelCount{{"room:1", 2}})
}

// TestAdminHistory: the admin API reads history like GET /rt/history,
// without a subscribe permission.
func TestAdminHistory(t *testing.T) {
	ts := newAdminServer(t)
	for range 3 {
		ts.publish(t, "private:x", "", `1`)
	}
	var out historyBody
	ts.admin(t, http.MethodGet, "/rt/admin/history?channel=private:x&limit=2", "", &out)
	assert.Equal(t, "page", []any{out.ids(), out.Next}, []any{[]string{idOf(2), idOf(3)}, idOf(2)})
	resp, p := ts.do(t, http.MethodGet, "/rt/admin/history?channel=private:x&limit=0", adminHeader(testAdminKey), "")
	assert.Equal(t, "bad limit", resp.StatusCode, http.StatusBadRequest)
	assert.Equal(t, "code", errorBody(t, p), shared.CodeBadRequest)
}
