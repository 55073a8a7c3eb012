package transport

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

const base = "http://example.test"

type harness struct {
	t   *testing.T
	clk *fakeClock
	d   *fakeDialer
	rec *recorder
	c   *Conn
}

// newHarness returns a started Conn on fakes. Backoff delays are half their
// ceiling: 250ms, 500ms, 1s…
func newHarness(t *testing.T, cfg Options) *harness {
	t.Helper()
	if cfg.Backoff.Rand == nil {
		cfg.Backoff.Rand = func() float64 { return 0.5 }
	}
	h := &harness{t: t, clk: newFakeClock(), d: &fakeDialer{t: t}, rec: &recorder{}}
	c, err := NewConn(base, &cfg, Env{Dialer: h.d, Clock: h.clk, Observer: h.rec})
	assert.NoError(t, err)
	h.c = c
	c.Start()
	return h
}

func (h *harness) events(want ...string) {
	h.t.Helper()
	if want == nil {
		want = []string{}
	}
	assert.Equal(h.t, "events", h.rec.take(), want)
}

func TestConnWebSocket(t *testing.T) {
	h := newHarness(t, Options{Channels: []string{"b", "a", "b"}, LastEventID: "7-3"})
	w := h.d.last(KindWebSocket)
	assert.Equal(t, "url", w.url, "ws://example.test/rt/ws")
	assert.Equal(t, "state", h.c.State(), StateConnecting)

	w.open()
	sent := w.frames()
	assert.Equal(t, "frames", len(sent), 1)
	assert.Equal(t, "subscribe", sent[0].Type, shared.TypeSubscribe)
	assert.Equal(t, "channels", sent[0].Channels, []string{"a", "b"})
	assert.Equal(t, "lastEventId", sent[0].LastEventID, "7-3")
	h.events()

	w.hello(15000)
	h.events("state open websocket")
	// Several frames in one WebSocket message; a replayed duplicate, a
	// message of another channel and a ping among them.
	w.recv(`{"type":"subscribed","ref":"s1","channels":["a","b"]}` + "\n" +
		`{"type":"message","id":"7-3","channel":"a","event":"message","data":0,"ts":1}` + "\n" +
		`{"type":"message","id":"7-4","channel":"a","event":"message","data":1,"ts":1}` + "\n\n" +
		`{"type":"ping"}` + "\n" +
		`{"type":"message","id":"7-5","channel":"zzz","event":"message","data":2,"ts":1}` + "\n" +
		`{"type":"message","id":"7-6","channel":"b","event":"message","data":{"x":[1]},"ts":1}`)
	w.msg("7-6", "b", "3") // duplicate
	w.msg("7-7", "a", "4")
	h.events("msg a 7-4 1", `msg b 7-6 {"x":[1]}`, "msg a 7-7 4")
	assert.Equal(t, "last id", h.c.LastEventID(), "7-7")
	assert.Equal(t, "wire", h.c.Wire(), KindWebSocket)

	h.c.Close()
	h.events("state closed websocket")
	assert.True(t, "wire closed", w.isClosed())
	assert.Equal(t, "close code", w.code, shared.CodeNormal)
	assert.Equal(t, "timers", h.clk.pending(), 0)
}

func TestConnSSE(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"news", "a/b=c"}, LastEventID: "7-3"})
	w := h.d.last(KindSSE)
	assert.Equal(t, "url", w.url, "http://example.test/rt/sse?channel=a%2Fb%3Dc&channel=news&lastEventId=7-3")
	w.hello(1000)
	h.events("state open sse")

	// Chunks cut anywhere; comments are heartbeats.
	w.recv(":ping\n\nid: 7-4\nevent: message\ndata: {\"id\":\"7-4\",\"channel\":\"news\",\"event\":\"message\",\"da")
	w.recv("ta\":\"hi\",\"ts\":5}\n\nid: 7-5\nevent: custom\ndata: {\"id\":\"7-5\",\"channel\":\"news\",\"event\":\"custom\",\"data\":null,\"ts\":5}\n\n")
	h.events(`msg news 7-4 "hi"`, "msg news 7-5 null")

	// The server restarted: a gap notice, then the new epoch.
	w.recv("id: 9-0\nevent: duet.gap\ndata: {\"type\":\"gap\",\"channels\":[\"news\"],\"lastEventId\":\"7-5\",\"id\":\"9-0\",\"reason\":\"restarted\"}\n\n")
	w.msg("9-1", "news", "1")
	h.events("gap news 7-5->9-0 restarted", "msg news 9-1 1")

	// The server closes with a code whose action is reconnect.
	w.recv("event: duet.close\ndata: {\"type\":\"error\",\"code\":4002,\"message\":\"bye\"}\n\n")
	h.events("state reconnecting sse")
	assert.True(t, "wire closed", w.isClosed())
	h.clk.Advance(249 * time.Millisecond)
	assert.Equal(t, "dials before the delay", h.d.count(), 1)
	h.clk.Advance(time.Millisecond)
	w2 := h.d.last(KindSSE)
	assert.Equal(t, "resume url", w2.url, "http://example.test/rt/sse?channel=a%2Fb%3Dc&channel=news&lastEventId=9-1")
	w2.hello(1000)
	w2.msg("9-1", "news", "1") // overlap
	w2.msg("9-2", "news", "2")
	h.events("state open sse", "msg news 9-2 2")
}

func TestConnCloseCodes(t *testing.T) {
	tests := []struct {
		name   string
		code   shared.Code
		events []string
		redial bool
		fresh  int // refreshes
	}{
		{"normal stops", shared.CodeNormal, []string{"error 1000 fatal", "state closed websocket"}, false, 0},
		{"forbidden stops", shared.CodeForbidden, []string{"error 4403 fatal", "state closed websocket"}, false, 0},
		{"bad channel stops", shared.CodeBadChannel, []string{"error 4422 fatal", "state closed websocket"}, false, 0},
		{"slow consumer reconnects", shared.CodeSlowConsumer, []string{"state reconnecting websocket"}, true, 0},
		{"shutdown reconnects", shared.CodeShutdown, []string{"state reconnecting websocket"}, true, 0},
		{"abnormal reconnects", shared.CodeAbnormal, []string{"state reconnecting websocket"}, true, 0},
		{"service restart reconnects", shared.CodeServiceRestart, []string{"state reconnecting websocket"}, true, 0},
		{"rate limited reconnects", shared.CodeRateLimited, []string{"state reconnecting websocket"}, true, 0},
		{"unauthorized refreshes", shared.CodeUnauthorized, []string{"state reconnecting websocket"}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Mode: ModeWebSocket, Channels: []string{"a"}})
			w := h.d.last(KindWebSocket)
			w.hello(15000)
			h.events("state open websocket")
			w.drop(tt.code, "")
			h.events(tt.events...)
			h.clk.Advance(time.Second)
			assert.Equal(t, "redialed", h.d.count() == 2, tt.redial)
			assert.Equal(t, "refreshes", h.d.refreshes, tt.fresh)
			if !tt.redial {
				assert.Equal(t, "state", h.c.State(), StateClosed)
				assert.Equal(t, "timers", h.clk.pending(), 0)
			}
		})
	}
}

func TestConnBackoff(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket, Backoff: shared.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, ResetAfter: 10 * time.Second}})
	// The server is down: each attempt fails; delays grow to the cap.
	for i, want := range []time.Duration{50, 100, 200, 200, 200} {
		h.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
		n := h.d.count()
		h.clk.Advance(want*time.Millisecond - time.Millisecond)
		assert.Equal(t, "no dial yet, attempt "+string(rune('0'+i)), h.d.count(), n)
		h.clk.Advance(time.Millisecond)
		assert.Equal(t, "dialed, attempt "+string(rune('0'+i)), h.d.count(), n+1)
	}
	h.events() // never open: connecting all along
	assert.Equal(t, "state", h.c.State(), StateConnecting)

	// A connection that stays up resets the growth.
	w := h.d.last(KindWebSocket)
	w.hello(1000)
	for range 10 {
		h.clk.Advance(time.Second)
		w.recv(`{"type":"ping"}`) // keep the watchdog quiet
	}
	w.drop(shared.CodeAbnormal, "")
	n := h.d.count()
	h.clk.Advance(50 * time.Millisecond)
	assert.Equal(t, "dialed after the first delay", h.d.count(), n+1)
}

func TestConnAutoFallback(t *testing.T) {
	h := newHarness(t, Options{Channels: []string{"a"}, WSRetryAfter: time.Minute, HeartbeatTimeout: time.Hour})
	ws := h.d.last(KindWebSocket)
	// A proxy refuses the upgrade: the socket closes without opening.
	ws.drop(shared.CodeAbnormal, "")
	sse := h.d.last(KindSSE) // at once, no backoff
	assert.Equal(t, "sse url", sse.url, "http://example.test/rt/sse?channel=a")
	sse.hello(15000)
	h.events("state open sse")
	sse.msg("1-1", "a", "1")

	// Publishing goes by POST while on SSE.
	var p published
	h.c.Publish("a", "", []byte(`{"n":1}`), p.cb)
	post := h.d.lastPost()
	assert.Equal(t, "post url", post.url, "http://example.test/rt/publish")
	assert.Equal(t, "post body", post.body, `{"channel":"a","data":{"n":1}}`)
	post.done(200, []byte(`{"id":"1-2"}`+"\n"), nil)
	id, err := p.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-2")

	// SSE drops: the next attempt stays on SSE, WebSocket being known bad.
	sse.drop(shared.CodeAbnormal, "")
	h.clk.Advance(250 * time.Millisecond)
	sse = h.d.last(KindSSE)
	assert.Equal(t, "resume url", sse.url, "http://example.test/rt/sse?channel=a&lastEventId=1-1")
	sse.hello(15000)
	sse.msg("1-2", "a", "2")

	// A minute after the fallback, WebSocket is tried beside SSE.
	h.clk.Advance(time.Minute)
	probe := h.d.last(KindWebSocket)
	sse.recv(":ping\n\n")
	probe.open()
	sub := probe.frames()
	assert.Equal(t, "probe subscribes from the cursor", sub[0].LastEventID, "1-2")
	sse.msg("1-3", "a", "3") // SSE still delivers meanwhile
	probe.hello(15000)
	assert.True(t, "sse closed after the switch", sse.isClosed())
	probe.msg("1-3", "a", "3") // replay overlap
	probe.msg("1-4", "a", "4")
	sse.msg("1-5", "a", "late") // a closed wire's late event: ignored
	h.events("msg a 1-1 1", "state reconnecting sse", "state open sse", "msg a 1-2 2", "msg a 1-3 3", "state open websocket", "msg a 1-4 4")
}

func TestConnAutoProbeFails(t *testing.T) {
	h := newHarness(t, Options{Channels: []string{"a"}, WSRetryAfter: time.Minute, HeartbeatTimeout: time.Hour})
	h.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
	sse := h.d.last(KindSSE)
	sse.hello(15000)
	h.clk.Advance(time.Minute)
	probe := h.d.last(KindWebSocket)
	probe.drop(shared.CodeAbnormal, "")
	assert.Equal(t, "sse untouched", sse.isClosed(), false)
	// The next probe waits twice as long.
	n := h.d.count()
	h.clk.Advance(2*time.Minute - time.Second)
	assert.Equal(t, "no probe yet", h.d.count(), n)
	h.clk.Advance(time.Second)
	probe = h.d.last(KindWebSocket)
	// A probe that never answers times out.
	h.clk.Advance(10 * time.Second)
	assert.True(t, "probe closed", probe.isClosed())
	assert.Equal(t, "sse untouched", sse.isClosed(), false)
	h.events("state open sse")
}

func TestConnAutoBothFail(t *testing.T) {
	h := newHarness(t, Options{})
	h.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
	// With no channel, SSE has nothing to stream and needs no request: it
	// is "open" for POSTs.
	assert.Equal(t, "dials", h.d.count(), 1)
	h.events("state open sse")

	h2 := newHarness(t, Options{Channels: []string{"a"}})
	h2.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
	h2.d.last(KindSSE).drop(shared.CodeAbnormal, "")
	assert.Equal(t, "dials", h2.d.count(), 2)
	h2.clk.Advance(250 * time.Millisecond)
	// The server was down, not WebSocket: WebSocket first again.
	h2.d.last(KindWebSocket)
}

func TestConnWatchdog(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		timeout time.Duration
		ping    string
	}{
		{"websocket", ModeWebSocket, 0, `{"type":"ping"}`},
		{"sse", ModeSSE, 0, ":ping\n\n"},
		{"configured", ModeWebSocket, 5 * time.Second, `{"type":"ping"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Mode: tt.mode, Channels: []string{"a"}, HeartbeatTimeout: tt.timeout})
			kind := KindWebSocket
			if tt.mode == ModeSSE {
				kind = KindSSE
			}
			w := h.d.last(kind)
			w.hello(1000)
			timeout := 2500 * time.Millisecond
			if tt.timeout > 0 {
				timeout = tt.timeout
			}
			// Heartbeats keep it up.
			for range 10 {
				h.clk.Advance(timeout - time.Millisecond)
				w.recv(tt.ping)
			}
			assert.True(t, "still up", !w.isClosed())
			// Silence brings it down.
			h.clk.Advance(timeout)
			assert.True(t, "closed", w.isClosed())
			if kind == KindWebSocket {
				assert.Equal(t, "close code", w.code, shared.CodeHeartbeatTimeout)
			}
			h.clk.Advance(250 * time.Millisecond)
			assert.Equal(t, "redialed", h.d.count(), 2)
		})
	}
}

func TestConnConnectTimeout(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket, ConnectTimeout: 3 * time.Second})
	w := h.d.last(KindWebSocket)
	w.open() // open, but no hello
	h.clk.Advance(3 * time.Second)
	assert.True(t, "closed", w.isClosed())
	h.clk.Advance(250 * time.Millisecond)
	assert.Equal(t, "redialed", h.d.count(), 2)
}

func TestConnOnlineVisible(t *testing.T) {
	t.Run("online dials a waiting reconnection at once", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeWebSocket, Backoff: shared.Backoff{Initial: time.Minute}})
		h.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
		h.c.Offline()
		h.c.Online()
		assert.Equal(t, "dials", h.d.count(), 2)
	})
	t.Run("online replaces a connection that lived through an outage", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeWebSocket})
		w := h.d.last(KindWebSocket)
		w.hello(15000)
		h.c.Online() // no outage seen: nothing to do
		assert.Equal(t, "dials", h.d.count(), 1)
		h.c.Offline()
		h.c.Online()
		assert.True(t, "closed", w.isClosed())
		assert.Equal(t, "dials", h.d.count(), 2)
		h.events("state open websocket", "state reconnecting websocket")
	})
	t.Run("visible dials a waiting reconnection at once", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}, Backoff: shared.Backoff{Initial: time.Minute}})
		h.d.last(KindSSE).drop(shared.CodeAbnormal, "")
		h.c.Visible()
		assert.Equal(t, "dials", h.d.count(), 2)
	})
	t.Run("visible replaces a connection silent too long", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeWebSocket})
		w := h.d.last(KindWebSocket)
		w.hello(15000)
		h.c.Visible()
		assert.Equal(t, "fresh: kept", h.d.count(), 1)
		// Throttled timers: time passes but the watchdog has not run.
		h.clk.mu.Lock()
		h.clk.now = h.clk.now.Add(time.Hour)
		h.clk.mu.Unlock()
		h.c.Visible()
		assert.True(t, "closed", w.isClosed())
		assert.Equal(t, "dials", h.d.count(), 2)
	})
}

func TestConnPublishWebSocket(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket, PublishTimeout: 5 * time.Second})
	var early published
	h.c.Publish("a", "ev", []byte(`[1, 2]`), early.cb)
	assert.True(t, "queued while connecting", early.pending())
	w := h.d.last(KindWebSocket)
	w.hello(15000)
	fr := w.frames()
	assert.Equal(t, "frames", len(fr), 1) // no channel: no subscribe
	assert.True(t, "the publish has an idempotency key", fr[0].IdempotencyKey != "")
	assert.Equal(t, "publish", fr[0], shared.Frame{Type: "publish", Ref: fr[0].Ref, Channel: "a", Event: "ev", Data: []byte(`[1,2]`), IdempotencyKey: fr[0].IdempotencyKey})
	w.recv(`{"type":"ack","ref":"` + fr[0].Ref + `","id":"1-1"}`)
	id, err := early.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-1")

	var refused, retried, late published
	h.c.Publish("a", "", nil, refused.cb)
	h.c.Publish("a", "", []byte(`"x"`), retried.cb)
	fr = w.frames()
	assert.Equal(t, "null data", string(fr[0].Data), "null")
	assert.True(t, "each publish has its own key", fr[1].IdempotencyKey != "" && fr[1].IdempotencyKey != fr[0].IdempotencyKey)
	w.recv(`{"type":"error","ref":"` + fr[0].Ref + `","code":4413,"message":"too large"}`)
	_, err = refused.result(t)
	errCode(t, err, shared.CodeTooLarge)

	// The socket drops before the ack: the publish is sent again, with the
	// same key, on the next connection (the server stores it once).
	w.drop(shared.CodeAbnormal, "")
	assert.True(t, "a publish without its ack waits for the next connection", retried.pending())
	h.clk.Advance(time.Second)
	w2 := h.d.last(KindWebSocket)
	w2.hello(15000)
	again := w2.frames()
	assert.Equal(t, "sent again", len(again), 1)
	assert.Equal(t, "sent again with its key", []any{again[0].Type, string(again[0].Data), again[0].IdempotencyKey}, []any{"publish", `"x"`, fr[1].IdempotencyKey})
	w2.recv(`{"type":"ack","ref":"` + again[0].Ref + `","id":"1-2"}`)
	id, err = retried.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "retried id", id, "1-2")

	w2.drop(shared.CodeAbnormal, "")
	h.c.Publish("a", "", nil, late.cb)
	h.clk.Advance(5 * time.Second) // reconnects, but no hello in time
	_, err = late.result(t)
	errCode(t, err, shared.CodeTryAgainLater)

	var invalid, invalidEvent, invalidJSON published
	h.c.Publish("bad channel", "", nil, invalid.cb)
	h.c.Publish("a", "duet.x", nil, invalidEvent.cb)
	h.c.Publish("a", "", []byte("{"), invalidJSON.cb)
	_, err = invalid.result(t)
	errCode(t, err, shared.CodeBadChannel)
	_, err = invalidEvent.result(t)
	errCode(t, err, shared.CodeBadRequest)
	_, err = invalidJSON.result(t)
	errCode(t, err, shared.CodeBadRequest)

	var closed published
	h.c.Publish("a", "", nil, closed.cb)
	h.c.Close()
	_, err = closed.result(t)
	errCode(t, err, shared.CodeNormal)
}

func TestConnPublishSSE(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		err    error
		id     string
		code   shared.Code
	}{
		{"ok", 200, `{"id":"5-1"}`, nil, "5-1", 0},
		{"refused with a code", 400, `{"code":4422,"message":"bad channel"}`, nil, "", shared.CodeBadChannel},
		{"refused without a body", 503, ``, nil, "", shared.CodeInternalError},
		{"network error", 0, ``, errString("offline"), "", shared.CodeAbnormal},
		{"no id", 200, `{}`, nil, "", shared.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In SSE mode a publish needs no connection: it is a POST.
			h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}})
			var p published
			h.c.Publish("a", "e", []byte(`1`), p.cb)
			post := h.d.lastPost()
			assert.Equal(t, "body", post.body, `{"channel":"a","event":"e","data":1}`)
			assert.True(t, "an Idempotency-Key", post.key != "")
			post.done(tt.status, []byte(tt.body), tt.err)
			id, err := p.result(t)
			assert.Equal(t, "id", id, tt.id)
			if tt.code == 0 {
				assert.NoError(t, err)
			} else {
				errCode(t, err, tt.code)
			}
		})
	}
}

func TestConnPublishRefreshesCredentials(t *testing.T) {
	// A POST refused with 401 was not published: the connection refreshes
	// its credentials and sends it again, once.
	for _, second := range []int{200, 401} {
		t.Run(strconv.Itoa(second), func(t *testing.T) {
			h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}})
			var p published
			h.c.Publish("a", "", []byte(`1`), p.cb)
			first := h.d.lastPost()
			first.done(401, []byte(`{"code":4401,"message":"invalid token: expired: refresh it"}`), nil)
			assert.Equal(t, "refreshes", h.d.refreshes, 1)
			again := h.d.lastPost()
			if again == first {
				t.Fatal("the publish was not sent again after the refresh")
			}
			assert.Equal(t, "body", again.body, first.body)
			assert.Equal(t, "the same Idempotency-Key", again.key, first.key)
			again.done(second, []byte(`{"id":"5-1"}`), nil)
			id, err := p.result(t)
			if second == 200 {
				assert.NoError(t, err)
				assert.Equal(t, "id", id, "5-1")
				return
			}
			errCode(t, err, shared.CodeUnauthorized)
			assert.Equal(t, "refreshes", h.d.refreshes, 1)
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestConnSetChannels(t *testing.T) {
	t.Run("websocket", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeWebSocket, Channels: []string{"a"}, LastEventID: "1-1"})
		assert.NoError(t, h.c.SetChannels([]string{"a", "b"})) // before open: the first subscribe takes all
		w := h.d.last(KindWebSocket)
		w.hello(15000)
		fr := w.frames()
		assert.Equal(t, "first subscribe", []any{fr[0].Channels, fr[0].LastEventID}, []any{[]string{"a", "b"}, "1-1"})
		w.msg("1-2", "b", "1")
		assert.NoError(t, h.c.SetChannels([]string{"b", "c"}))
		fr = w.frames()
		assert.Equal(t, "frames", len(fr), 2)
		assert.Equal(t, "subscribe", []any{fr[0].Type, fr[0].Channels, fr[0].LastEventID}, []any{"subscribe", []string{"c"}, ""})
		assert.Equal(t, "unsubscribe", []any{fr[1].Type, fr[1].Channels}, []any{"unsubscribe", []string{"a"}})
		w.msg("1-3", "a", "2") // in flight before the unsubscribe: dropped
		w.msg("1-4", "c", "3")
		h.events("state open websocket", "msg b 1-2 1", "msg c 1-4 3")
		assert.Equal(t, "last id", h.c.LastEventID(), "1-4")
		assert.Equal(t, "channels", h.c.Channels(), []string{"b", "c"})

		assert.True(t, "bad name refused", h.c.SetChannels([]string{"no spaces"}) != nil)
	})
	t.Run("sse reopens the stream", func(t *testing.T) {
		h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}})
		w := h.d.last(KindSSE)
		w.hello(15000)
		w.msg("1-2", "a", "1")
		assert.NoError(t, h.c.SetChannels([]string{"a", "b"}))
		assert.NoError(t, h.c.SetChannels([]string{"a", "b", "c"}))
		assert.Equal(t, "debounced", h.d.count(), 1)
		h.clk.Advance(resubscribeDelay)
		assert.True(t, "old stream closed", w.isClosed())
		w2 := h.d.last(KindSSE)
		assert.Equal(t, "url", w2.url, "http://example.test/rt/sse?channel=a&channel=b&channel=c&lastEventId=1-2")
		w2.hello(15000)
		w2.msg("1-3", "c", "2")
		// No reconnecting state for a reopening.
		h.events("state open sse", "msg a 1-2 1", "msg c 1-3 2")
		// Down to no channel: the stream closes, publishing still works.
		assert.NoError(t, h.c.SetChannels(nil))
		h.clk.Advance(resubscribeDelay)
		assert.True(t, "closed", w2.isClosed())
		assert.Equal(t, "no new stream", h.d.count(), 2)
		assert.Equal(t, "state", h.c.State(), StateOpen)
		assert.NoError(t, h.c.SetChannels([]string{"d"}))
		h.clk.Advance(resubscribeDelay)
		assert.Equal(t, "url", h.d.last(KindSSE).url, "http://example.test/rt/sse?channel=d&lastEventId=1-3")
	})
}

func TestConnGapAcrossRestart(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket, Channels: []string{"a"}})
	w := h.d.last(KindWebSocket)
	w.hello(15000)
	w.msg("100-41", "a", "41")
	w.msg("100-42", "a", "42")
	w.drop(shared.CodeGoingAway, "")
	h.clk.Advance(250 * time.Millisecond)
	w = h.d.last(KindWebSocket)
	w.open()
	assert.Equal(t, "resume from", w.frames()[0].LastEventID, "100-42")
	w.recv(`{"type":"hello","heartbeatMs":15000}` + "\n" +
		`{"type":"subscribed","ref":"s2","channels":["a"]}` + "\n" +
		`{"type":"gap","ref":"s2","channels":["a"],"lastEventId":"100-42","id":"200-3","reason":"restarted"}` + "\n" +
		`{"type":"message","id":"200-4","channel":"a","event":"message","data":4,"ts":1}`)
	w.msg("200-1", "a", `"old"`) // before the gap's resume point: a duplicate
	w.msg("200-5", "a", "5")
	h.events("state open websocket", "msg a 100-41 41", "msg a 100-42 42", "state reconnecting websocket",
		"state open websocket", "gap a 100-42->200-3 restarted", "msg a 200-4 4", "msg a 200-5 5")
}

func TestConnReentrantObserver(t *testing.T) {
	// A handler that publishes and closes from inside a message callback
	// must not deadlock, and must see events in order.
	h := newHarness(t, Options{Mode: ModeWebSocket, Channels: []string{"a"}})
	var p published
	h.rec.onMessage = func(e *shared.Envelope) {
		if e.ID == "1-1" {
			h.c.Publish("a", "", nil, p.cb)
		}
		if e.ID == "1-2" {
			h.c.Close()
		}
	}
	w := h.d.last(KindWebSocket)
	w.hello(15000)
	w.recv(`{"type":"message","id":"1-1","channel":"a","event":"message","data":1,"ts":1}` + "\n" +
		`{"type":"message","id":"1-2","channel":"a","event":"message","data":2,"ts":1}` + "\n" +
		`{"type":"message","id":"1-3","channel":"a","event":"message","data":3,"ts":1}`)
	// 1-3 was decoded before the close: it is delivered, then the state.
	h.events("state open websocket", "msg a 1-1 1", "msg a 1-2 2", "msg a 1-3 3", "state closed websocket")
	_, err := p.result(t)
	errCode(t, err, shared.CodeNormal) // closed before its ack
	assert.True(t, "publish was sent", strings.Contains(string(shared.AppendFrame(nil, &w.frames()[1])), `"publish"`))
}

func TestConnPublishTooLarge(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket})
	w := h.d.last(KindWebSocket)
	w.open()
	// The small one's frame, idempotency key included, is about 100 bytes.
	w.recv(`{"type":"hello","heartbeatMs":15000,"maxFrameBytes":150}`)
	var big, small published
	h.c.Publish("a", "", []byte(`"`+strings.Repeat("x", 150)+`"`), big.cb)
	h.c.Publish("a", "", []byte(`"x"`), small.cb)
	_, err := big.result(t)
	errCode(t, err, shared.CodeTooLarge)
	fr := w.frames()
	assert.Equal(t, "only the small one sent", len(fr), 1)
	assert.Equal(t, "data", string(fr[0].Data), `"x"`)
}

func TestConnRefreshFails(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}})
	h.d.refreshErr = errString("token endpoint down")
	h.d.last(KindSSE).drop(shared.CodeUnauthorized, "expired")
	// The failure is reported, and the reconnection goes on with backoff.
	h.events("error 4401")
	h.clk.Advance(250 * time.Millisecond)
	assert.Equal(t, "redialed", h.d.count(), 2)
	assert.Equal(t, "refreshes", h.d.refreshes, 1)
}

func TestConnAutoRefusedBySSE(t *testing.T) {
	// WebSocket fails to open, and SSE answers that the channel is bad: a
	// stop, not a retry.
	h := newHarness(t, Options{Channels: []string{"a"}})
	h.d.last(KindWebSocket).drop(shared.CodeAbnormal, "")
	e := CodeOfHTTP(400, []byte(`{"code":4422,"message":"bad channel"}`))
	h.d.last(KindSSE).drop(e.Code, e.Message)
	h.events("error 4422 fatal", "state closed ")
	h.clk.Advance(time.Minute)
	assert.Equal(t, "dials", h.d.count(), 2)
}

// TestConnReplayLimit: a connection the server ends with 4005 (it replayed
// as much as it may at once) is resumed at once from the last message,
// without the grown backoff of the failures before it, on both wires.
func TestConnReplayLimit(t *testing.T) {
	for _, mode := range []Mode{ModeWebSocket, ModeSSE} {
		kind := KindWebSocket
		if mode == ModeSSE {
			kind = KindSSE
		}
		t.Run(kind.String(), func(t *testing.T) {
			h := newHarness(t, Options{Mode: mode, Channels: []string{"a"}, Backoff: shared.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, ResetAfter: 10 * time.Second}})
			// Failures first: the delay grows to 100 ms.
			for _, d := range []time.Duration{50, 100} {
				h.d.last(kind).drop(shared.CodeAbnormal, "")
				h.clk.Advance(d * time.Millisecond)
			}
			w := h.d.last(kind)
			w.hello(15000)
			w.msg("1-5", "a", "5")
			w.msg("1-6", "a", "6")
			if mode == ModeSSE {
				w.recv("id: 1-6\nevent: duet.close\ndata: {\"type\":\"error\",\"code\":4005,\"message\":\"replay limit reached\",\"id\":\"1-6\"}\n\n")
			} else {
				w.drop(shared.CodeReplayLimit, "replay limit reached: reconnect and resume from 1-6")
			}
			n := h.d.count()
			h.clk.Advance(50 * time.Millisecond) // the first delay, not the grown one
			assert.Equal(t, "dialed again at once", h.d.count(), n+1)
			next := h.d.last(kind)
			if mode == ModeSSE {
				assert.Equal(t, "resume url", next.url, "http://example.test/rt/sse?channel=a&lastEventId=1-6")
				return
			}
			next.open()
			sub := next.frames()[0]
			assert.Equal(t, "resume from the last message", sub.LastEventID, "1-6")
		})
	}
}
