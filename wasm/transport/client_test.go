package transport

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// browser simulates the tabs of one origin: a BroadcastChannel that queues
// each post for every other tab until flush, as the event loop does, and
// one dialer (so one count of connections) for all.
type browser struct {
	t     *testing.T
	clk   *fakeClock
	d     *fakeDialer
	mu    sync.Mutex
	tabs  []*tab
	queue []delivery
}

type tab struct {
	b    *browser
	name string
	cl   *Client
	rec  *recorder
	gone bool
}

type delivery struct {
	to *tab
	p  []byte
}

func newBrowser(t *testing.T) *browser {
	return &browser{t: t, clk: newFakeClock(), d: &fakeDialer{t: t}}
}

// open opens a tab with channels and starts its client.
func (b *browser) open(name string, channels ...string) *tab {
	b.t.Helper()
	tb := &tab{b: b, name: name, rec: &recorder{}}
	cfg := Options{Mode: ModeWebSocket, Channels: channels, Backoff: shared.Backoff{Rand: func() float64 { return 0.5 }}}
	cl, err := NewClient(base, &cfg, Env{Dialer: b.d, Clock: b.clk, Observer: tb.rec}, ClientOptions{Bus: tb, TabID: name})
	assert.NoError(b.t, err)
	tb.cl = cl
	b.mu.Lock()
	b.tabs = append(b.tabs, tb)
	b.mu.Unlock()
	cl.Start()
	return tb
}

// Post implements Bus.
func (tb *tab) Post(p []byte) {
	b := tb.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if tb.gone {
		return
	}
	for _, other := range b.tabs {
		if other != tb && !other.gone {
			b.queue = append(b.queue, delivery{other, slices.Clone(p)})
		}
	}
}

// flush delivers the queued posts, and those they cause.
func (b *browser) flush() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.mu.Unlock()
			return
		}
		d := b.queue[0]
		b.queue = b.queue[1:]
		gone := d.to.gone
		b.mu.Unlock()
		if !gone {
			d.to.cl.Receive(d.p)
		}
	}
}

// crash makes a tab vanish without a word.
func (tb *tab) crash() {
	tb.b.mu.Lock()
	tb.gone = true
	tb.b.mu.Unlock()
}

func (tb *tab) events(want ...string) {
	tb.b.t.Helper()
	if want == nil {
		want = []string{}
	}
	assert.Equal(tb.b.t, tb.name+" events", tb.rec.take(), want)
}

func (tb *tab) messages(want ...string) {
	tb.b.t.Helper()
	if want == nil {
		want = []string{}
	}
	assert.Equal(tb.b.t, tb.name+" messages", messages(tb.rec.take()), want)
}

func TestClientNotShared(t *testing.T) {
	clk, d, rec := newFakeClock(), &fakeDialer{t: t}, &recorder{}
	cl, err := NewClient(base, &Options{Mode: ModeSSE, Channels: []string{"a"}}, Env{Dialer: d, Clock: clk, Observer: rec}, ClientOptions{})
	assert.NoError(t, err)
	cl.Start()
	assert.True(t, "leads", cl.Leading())
	w := d.last(KindSSE)
	w.hello(15000)
	w.msg("1-1", "a", "1")
	assert.NoError(t, cl.Subscribe("b"))
	clk.Advance(resubscribeDelay)
	assert.Equal(t, "url", d.last(KindSSE).url, "http://example.test/rt/sse?channel=a&channel=b&lastEventId=1-1")
	assert.Equal(t, "events", rec.take(), []string{"state open sse", "msg a 1-1 1"})
	assert.Equal(t, "last id", cl.LastEventID(), "1-1")
	cl.Close()
	assert.Equal(t, "events", rec.take(), []string{"state closed sse"})
	assert.Equal(t, "state", cl.State(), StateClosed)
}

func TestClientShared(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	B := b.open("B", "b")
	b.flush()
	A.cl.Lead() // A got the lock
	C := b.open("C", "a", "c")
	b.flush()
	assert.True(t, "A leads", A.cl.Leading())
	assert.True(t, "B follows", !B.cl.Leading())

	// One connection, with every tab's channels.
	assert.Equal(t, "connections", b.d.count(), 1)
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	sent := w.frames()
	var subscribed []string
	for _, f := range sent {
		if f.Type == shared.TypeSubscribe {
			subscribed = append(subscribed, f.Channels...)
		}
	}
	slices.Sort(subscribed)
	assert.Equal(t, "subscribed", subscribed, []string{"a", "b", "c"})
	for _, tb := range []*tab{A, B, C} {
		tb.events("state open websocket")
		assert.Equal(t, tb.name+" state", tb.cl.State(), StateOpen)
		assert.Equal(t, tb.name+" wire", tb.cl.Wire(), KindWebSocket)
	}

	w.msg("1-1", "a", "1")
	w.msg("1-2", "b", "2")
	w.msg("1-3", "c", "3")
	b.flush()
	A.messages("msg a 1-1 1")
	B.messages("msg b 1-2 2")
	C.messages("msg a 1-1 1", "msg c 1-3 3")
	for _, tb := range []*tab{A, B, C} {
		assert.Equal(t, tb.name+" cursor", tb.cl.LastEventID(), "1-3")
	}

	// A follower publishes through the leader.
	var p published
	B.cl.Publish("b", "ev", []byte(`{"k":"v"}`), p.cb)
	b.flush()
	fr := w.frames()
	assert.Equal(t, "relayed publish", []any{fr[0].Type, fr[0].Channel, fr[0].Event, string(fr[0].Data)}, []any{"publish", "b", "ev", `{"k":"v"}`})
	w.recv(`{"type":"ack","ref":"` + fr[0].Ref + `","id":"1-4"}`)
	b.flush()
	id, err := p.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-4")
	var refused published
	C.cl.Publish("c", "", nil, refused.cb)
	b.flush()
	fr = w.frames()
	w.recv(`{"type":"error","ref":"` + fr[0].Ref + `","code":4403,"message":"no"}`)
	b.flush()
	_, err = refused.result(t)
	errCode(t, err, shared.CodeForbidden)

	// B unsubscribes: the leader drops the channel nobody wants.
	B.cl.Unsubscribe("b")
	b.flush()
	fr = w.frames()
	assert.Equal(t, "unsubscribe", []any{fr[0].Type, fr[0].Channels}, []any{"unsubscribe", []string{"b"}})

	// The leader's tab closes. Messages 1-5 and 1-6 were sent by the server
	// but A died before relaying 1-6.
	w.msg("1-5", "a", "5")
	b.flush()
	A.cl.Close()
	b.flush()
	assert.True(t, "A's connection closed", w.isClosed())
	A.events("msg a 1-5 5", "state closed websocket")
	B.events("state reconnecting websocket")
	C.events("msg a 1-5 5", "state reconnecting websocket")

	// C gets the lock and resumes from the last id it saw.
	C.cl.Lead()
	b.flush()
	w2 := b.d.last(KindWebSocket)
	w2.hello(15000)
	b.flush()
	sub := w2.frames()[0]
	assert.Equal(t, "resume", []any{sub.Channels, sub.LastEventID}, []any{[]string{"a", "c"}, "1-5"})
	w2.msg("1-5", "a", "5") // the server's replay may overlap
	w2.msg("1-6", "a", "6")
	w2.msg("1-7", "c", "7")
	b.flush()
	C.messages("msg a 1-6 6", "msg c 1-7 7")
	B.messages()
	assert.Equal(t, "B cursor", B.cl.LastEventID(), "1-7")
	assert.Equal(t, "B state", B.cl.State(), StateOpen)
	assert.Equal(t, "connections", b.d.count(), 2)
}

func TestClientLeaderCrash(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "b")
	D := b.open("D", "d")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	w.msg("1-1", "b", "1")
	b.flush()
	B.messages("msg b 1-1 1")

	// B publishes, A and D crash before the ack.
	var p published
	B.cl.Publish("b", "", nil, p.cb)
	b.flush()
	A.crash()
	D.crash()
	B.cl.Lead()
	b.flush()
	_, err := p.result(t)
	errCode(t, err, shared.CodeAbnormal)
	w2 := b.d.last(KindWebSocket)
	w2.open()
	sub := w2.frames()[0]
	// D's channel is kept until D fails to confirm itself. (A's is not:
	// a leader's channels die with it.)
	assert.Equal(t, "resume", []any{sub.Channels, sub.LastEventID}, []any{[]string{"b", "d"}, "1-1"})
	w2.hello(15000)
	b.clk.Advance(3 * time.Second)
	fr := w2.frames()
	assert.Equal(t, "pruned", []any{fr[0].Type, fr[0].Channels}, []any{"unsubscribe", []string{"d"}})
}

func TestClientPublishWaitsForLeader(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	var early, lost published
	A.cl.Publish("a", "", []byte("1"), early.cb)
	B := b.open("B")
	b.flush()
	B.cl.Lead()
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	fr := w.frames()
	var pub shared.Frame
	for _, f := range fr {
		if f.Type == shared.TypePublish {
			pub = f
		}
	}
	assert.Equal(t, "published", string(pub.Data), "1")
	w.recv(`{"type":"ack","ref":"` + pub.Ref + `","id":"1-1"}`)
	b.flush()
	id, err := early.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-1")

	// The leader says goodbye with a publish in flight.
	A.cl.Publish("a", "", nil, lost.cb)
	b.flush()
	B.cl.Close()
	b.flush()
	_, err = lost.result(t)
	errCode(t, err, shared.CodeAbnormal)

	// No leader: a publish waits, then times out.
	var timedOut published
	A.cl.Publish("a", "", nil, timedOut.cb)
	b.clk.Advance(30 * time.Second)
	_, err = timedOut.result(t)
	errCode(t, err, shared.CodeTryAgainLater)
	A.cl.Close()
	assert.Equal(t, "timers", b.clk.pending(), 0)
}

func TestClientGapRelayed(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "a")
	C := b.open("C", "c")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	w.recv(`{"type":"gap","channels":["a"],"lastEventId":"1-9","id":"2-0","reason":"restarted"}`)
	w.msg("2-1", "a", "1")
	b.flush()
	want := []string{"state open websocket", "gap a 1-9->2-0 restarted", "msg a 2-1 1"}
	A.events(want...)
	B.events(want...)
	C.events("state open websocket") // the gap is not about its channels
	assert.Equal(t, "C cursor", C.cl.LastEventID(), "2-1")
}

func TestClientFatalRelayed(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "a")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	w.drop(shared.CodeForbidden, "go away")
	b.flush()
	A.events("state open websocket", "error 4403 fatal", "state closed websocket")
	B.events("state open websocket", "error 4403 fatal", "state closed websocket")
}

func TestBusCodec(t *testing.T) {
	tests := []busMsg{
		{from: "A", f: shared.Frame{Type: busTabHello, Channels: []string{}}},
		{from: "A", to: "B", state: StateOpen, wire: KindSSE, f: shared.Frame{Type: busLeader}},
		{from: "x_1", fatal: true, state: StateClosed, f: shared.Frame{Type: busError, Code: 4403, Message: "no\nway"}},
		{from: "A", f: shared.MessageFrame(&shared.Envelope{ID: "1-1", Channel: "a", Event: "message", Data: []byte(`{"a":[1,"\n"]}`), TS: 5})},
		{from: "A", to: "B", f: shared.Frame{Type: busPublish, Ref: "t1", Channel: "c", Event: "e", Data: []byte(`null`)}},
	}
	for _, m := range tests {
		t.Run(m.f.Type, func(t *testing.T) {
			p := appendBusMsg(nil, &m)
			got, err := decodeBusMsg(p)
			assert.NoError(t, err)
			assert.Equal(t, "roundtrip", got, m)
		})
	}
	for _, bad := range []string{"", "duet1 A - open - 0", "duet2 A - open - 0\n{}", "duet1 - - open - 0\n{\"type\":\"x\"}", "duet1 A - open - 0\n{"} {
		_, err := decodeBusMsg([]byte(bad))
		assert.True(t, "refused "+strings.ReplaceAll(bad, "\n", `\n`), err != nil)
	}
}

func FuzzBusCodec(f *testing.F) {
	f.Add([]byte("duet1 A - open websocket 0\n{\"type\":\"leader\"}"))
	f.Add(appendBusMsg(nil, &busMsg{from: "A", f: shared.MessageFrame(&shared.Envelope{ID: "1-1", Channel: "a", Data: []byte("1")})}))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := decodeBusMsg(p)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := decodeBusMsg(appendBusMsg(nil, &m))
		if err != nil {
			t.Fatalf("re-encoding of %q does not decode: %v", p, err)
		}
		if again.from != m.from || again.to != m.to || again.f.Type != m.f.Type || again.f.ID != m.f.ID {
			t.Fatalf("roundtrip changed %+v into %+v", m, again)
		}
	})
}

func TestClientFollowerVisible(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "a")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	// The leader's connection drops; its hidden page would wait out the
	// backoff (here a long one)...
	w.drop(shared.CodeAbnormal, "")
	b.flush()
	assert.Equal(t, "dials", b.d.count(), 1)
	// ...but the follower's page becomes visible.
	B.cl.Visible()
	b.flush()
	assert.Equal(t, "dials", b.d.count(), 2)
}

func TestClientFollowerSubscribes(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	w.frames()
	assert.NoError(t, B.cl.Subscribe("b", "b"))
	assert.True(t, "bad name refused", B.cl.Subscribe("b c") != nil)
	b.flush()
	fr := w.frames()
	assert.Equal(t, "subscribe", []any{fr[0].Type, fr[0].Channels}, []any{"subscribe", []string{"b"}})
	w.msg("1-1", "b", "1")
	b.flush()
	A.messages()
	B.messages("msg b 1-1 1")
	assert.Equal(t, "B channels", B.cl.Channels(), []string{"b"})
}

// TestLastEventIDLength: the constructors of a Conn and of a Client refuse a
// lastEventId over 164 bytes alike; a Client that accepted one would panic
// building its Conn when it starts leading.
func TestLastEventIDLength(t *testing.T) {
	longest := strings.Repeat("9", maxLastEventID)
	tooLong := longest + "9"
	for _, tt := range []struct {
		name string
		make func(id string) error
	}{
		{"NewConn", func(id string) error {
			_, err := NewConn(base, &Options{LastEventID: id}, Env{Dialer: &fakeDialer{t: t}})
			return err
		}},
		{"NewClient", func(id string) error {
			_, err := NewClient(base, &Options{LastEventID: id}, Env{Dialer: &fakeDialer{t: t}}, ClientOptions{})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.NoError(t, tt.make(longest))
			err := tt.make(tooLong)
			if err == nil || !strings.Contains(err.Error(), "duet/transport: lastEventId is too long") {
				t.Fatalf("%d bytes: err %v, want lastEventId is too long", len(tooLong), err)
			}
		})
	}

	// The longest accepted id survives a tab's taking the lead.
	b := newBrowser(t)
	cfg := Options{Mode: ModeWebSocket, Channels: []string{"a"}, LastEventID: longest}
	tb := &tab{b: b, name: "A", rec: &recorder{}}
	cl, err := NewClient(base, &cfg, Env{Dialer: b.d, Clock: b.clk, Observer: tb.rec}, ClientOptions{Bus: tb, TabID: "A"})
	assert.NoError(t, err)
	tb.cl = cl
	b.tabs = append(b.tabs, tb)
	cl.Start()
	cl.Lead()
	assert.True(t, "leads", cl.Leading())
	assert.Equal(t, "resumes from", cl.LastEventID(), longest)
	cl.Close()
}

// TestClientSuspendResume: a leading tab that goes into the back/forward
// cache steps aside (another tab leads, resuming where it was), and when it
// comes back follows the new leader and resumes from its cursor, with no
// gap and no repeat.
func TestClientSuspendResume(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "a")
	A.cl.Lead()
	B := b.open("B", "a")
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	w.msg("1-1", "a", "1")
	b.flush()
	A.messages("msg a 1-1 1")
	B.messages("msg a 1-1 1")

	A.cl.Suspend()
	b.flush()
	assert.True(t, "A's connection closed", w.isClosed())
	assert.True(t, "A no longer leads", !A.cl.Leading())
	A.events("state reconnecting websocket")
	B.events("state reconnecting websocket")
	A.cl.Lead() // a lock granted late must not wake a suspended tab
	assert.True(t, "suspended A does not lead", !A.cl.Leading())

	B.cl.Lead()
	b.flush()
	w2 := b.d.last(KindWebSocket)
	w2.hello(15000)
	b.flush()
	sub := w2.frames()[0]
	assert.Equal(t, "B resumes", []any{sub.Channels, sub.LastEventID}, []any{[]string{"a"}, "1-1"})
	w2.msg("1-2", "a", "2") // A is in the cache: it hears nothing
	b.flush()
	A.messages()

	A.cl.Resume()
	b.flush()
	assert.Equal(t, "A follows B", A.cl.State(), StateOpen)
	w2.msg("1-3", "a", "3")
	b.flush()
	A.messages("msg a 1-3 3")
	B.messages("msg a 1-2 2", "msg a 1-3 3")

	// Without a bus, Resume reconnects at once from the last id.
	clk, d, rec := newFakeClock(), &fakeDialer{t: t}, &recorder{}
	solo, err := NewClient(base, &Options{Mode: ModeSSE, Channels: []string{"a"}}, Env{Dialer: d, Clock: clk, Observer: rec}, ClientOptions{})
	assert.NoError(t, err)
	solo.Start()
	sw := d.last(KindSSE)
	sw.hello(15000)
	sw.msg("2-1", "a", "1")
	assert.Equal(t, "solo cursor", solo.LastEventID(), "2-1")
	solo.Suspend()
	assert.True(t, "solo closed its wire", sw.isClosed())
	solo.Resume()
	assert.Equal(t, "solo resumes", d.last(KindSSE).url, "http://example.test/rt/sse?channel=a&lastEventId=2-1")
	solo.Close()
}
