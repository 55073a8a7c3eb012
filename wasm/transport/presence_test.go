package transport

import (
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// JoinLeave makes the recorder a PresenceObserver.
func (r *recorder) JoinLeave(f *shared.Frame) {
	r.add(f.Type + " " + f.Channel + " " + f.Client + " " + f.User)
}

// getDialer is a fakeDialer that can GET: it answers every GET with
// status and body, and records the URLs.
type getDialer struct {
	*fakeDialer
	status int
	body   string
	urls   []string
}

func (d *getDialer) Get(url string, done func(int, []byte, error)) {
	d.urls = append(d.urls, url)
	done(d.status, []byte(d.body), nil)
}

type answer struct {
	body string
	err  error
	n    int
}

func (a *answer) cb(body []byte, err error) { a.body, a.err, a.n = string(body), err, a.n+1 }

func TestConnPresenceWebSocket(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeWebSocket, Channels: []string{"room"}, PublishTimeout: 5 * time.Second, Info: `{"n":"Ann B"}`})
	w := h.d.last(KindWebSocket)
	assert.Equal(t, "WS URL carries the info", w.url, "ws://example.test/rt/ws?info=%7B%22n%22%3A%22Ann%20B%22%7D")
	assert.Equal(t, "no client id before hello", h.c.ClientID(), "")
	w.open()
	w.recv(`{"type":"hello","client":"aBLrUPC41klc3-RN","heartbeatMs":15000}`)
	assert.Equal(t, "client id", h.c.ClientID(), "aBLrUPC41klc3-RN")
	w.frames() // the subscribe
	h.rec.take()

	// Join and leave of held channels reach the observer; others do not.
	w.recv(`{"type":"join","channel":"room","client":"c2","user":"bob"}` + "\n" +
		`{"type":"join","channel":"elsewhere","client":"c3","user":""}` + "\n" +
		`{"type":"leave","channel":"room","client":"c2","user":"bob"}`)
	h.events("join room c2 bob", "leave room c2 bob")

	var full, stats, refused, late answer
	h.c.Presence("room", false, full.cb)
	h.c.Presence("room", true, stats.cb)
	h.c.Presence("secret", true, refused.cb)
	fr := w.frames()
	assert.Equal(t, "requests", len(fr), 3)
	assert.Equal(t, "presence request", fr[0], shared.Frame{Type: shared.TypePresence, Ref: fr[0].Ref, Channel: "room"})
	assert.Equal(t, "stats request", fr[1], shared.Frame{Type: shared.TypePresenceStats, Ref: fr[1].Ref, Channel: "room"})
	w.recv(`{"type":"presence","ref":"` + fr[0].Ref + `","channel":"room","clients":[{"client":"aBLrUPC41klc3-RN","info":{"n":"Ann B"}}],"count":1,"users":0}`)
	w.recv(`{"type":"presence_stats","ref":"` + fr[1].Ref + `","channel":"room","count":1,"users":0}`)
	w.recv(`{"type":"error","ref":"` + fr[2].Ref + `","code":4403,"message":"no"}`)
	assert.NoError(t, full.err)
	assert.Equal(t, "presence", full.body, `{"channel":"room","clients":[{"client":"aBLrUPC41klc3-RN","info":{"n":"Ann B"}}],"count":1,"users":0}`)
	assert.Equal(t, "stats", stats.body, `{"channel":"room","count":1,"users":0}`)
	errCode(t, refused.err, shared.CodeForbidden)
	h.events() // the answered error is the request's, not the connection's

	h.c.Presence("room", true, late.cb)
	h.clk.Advance(5 * time.Second)
	errCode(t, late.err, shared.CodeTryAgainLater)
	assert.Equal(t, "answered once", late.n, 1)
}

func TestConnPresenceSSE(t *testing.T) {
	clk := newFakeClock()
	d := &getDialer{fakeDialer: &fakeDialer{t: t}, status: 200, body: `{"channel":"room","count":2,"users":1}`}
	rec := &recorder{}
	c, err := NewConn(base, &Options{Mode: ModeSSE, Channels: []string{"room"}, LastEventID: "1-1", Info: `"x"`}, Env{Dialer: d, Clock: clk, Observer: rec})
	assert.NoError(t, err)
	c.Start()
	w := d.last(KindSSE)
	assert.Equal(t, "SSE URL carries the info", w.url, "http://example.test/rt/sse?channel=room&lastEventId=1-1&info=%22x%22")
	w.hello(15000)
	rec.take()
	w.recv("event: duet.join\ndata: {\"type\":\"join\",\"channel\":\"room\",\"client\":\"c2\",\"user\":\"\"}\n\n")
	w.recv("event: duet.leave\ndata: {\"type\":\"leave\",\"channel\":\"room\",\"client\":\"c2\",\"user\":\"\"}\n\n")
	assert.Equal(t, "events", rec.take(), []string{"join room c2 ", "leave room c2 "})
	assert.Equal(t, "join/leave do not move the cursor", c.LastEventID(), "1-1")

	var stats, refused answer
	c.Presence("room", true, stats.cb)
	assert.NoError(t, stats.err)
	assert.Equal(t, "body", stats.body, d.body)
	assert.Equal(t, "GET URL", d.urls, []string{"http://example.test/rt/presence?channel=room&stats=1"})
	d.status, d.body = 400, `{"code":4422,"message":"channel \"plain\" has no presence"}`
	c.Presence("plain", false, refused.cb)
	errCode(t, refused.err, shared.CodeBadChannel)
}

// TestClientInfo: a Client's leading connection carries the info once.
func TestClientInfo(t *testing.T) {
	d := &fakeDialer{t: t}
	cl, err := NewClient(base, &Options{Mode: ModeWebSocket, Info: `{"a":1}`}, Env{Dialer: d, Clock: newFakeClock()}, ClientOptions{})
	assert.NoError(t, err)
	cl.Start()
	cl.Lead()
	assert.Equal(t, "WS URL", d.last(KindWebSocket).url, "ws://example.test/rt/ws?info=%7B%22a%22%3A1%7D")
}

// TestClientJoinLeaveRelayed: the leader's join and leave events reach the
// tabs holding the channel, and every tab knows the shared connection's
// client id.
func TestClientJoinLeaveRelayed(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "a")
	C := b.open("C", "c")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.open()
	w.recv(`{"type":"hello","client":"shared-client-id","heartbeatMs":15000}`)
	w.recv(`{"type":"join","channel":"a","client":"x","user":"u"}` + "\n" + `{"type":"leave","channel":"a","client":"x","user":"u"}`)
	b.flush()
	want := []string{"state open websocket", "join a x u", "leave a x u"}
	A.events(want...)
	B.events(want...)
	C.events("state open websocket") // not its channel
	for _, tb := range []*tab{A, B, C} {
		assert.Equal(t, tb.name+" client id", tb.cl.ClientID(), "shared-client-id")
	}
}
