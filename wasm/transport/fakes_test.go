package transport

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
)

// fakeClock is a Clock whose time moves only when a test says so. Timers
// fire synchronously inside Advance, in order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk     *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_764_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	i := slices.Index(t.clk.timers, t)
	if i >= 0 {
		t.clk.timers = slices.Delete(t.clk.timers, i, i+1)
	}
	return was && i >= 0
}

// Advance moves the time by d, firing the timers due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t == next })
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// pending returns how many timers are armed.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fakeDialer records the wires and posts a Conn asks for.
type fakeDialer struct {
	t          *testing.T
	mu         sync.Mutex
	wires      []*fakeWire
	posts      []*fakePost
	gets       []*fakePost // GET requests: url and done
	refreshes  int
	refreshErr error
}

type fakeWire struct {
	d      *fakeDialer
	kind   Kind
	url    string
	ev     WireEvents
	mu     sync.Mutex
	sent   []shared.Frame
	closed bool
	code   shared.Code
}

type fakePost struct {
	url  string
	body string
	key  string // the Idempotency-Key header
	done func(int, []byte, error)
}

func (d *fakeDialer) dial(kind Kind, url string, ev WireEvents) Wire {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := &fakeWire{d: d, kind: kind, url: url, ev: ev}
	d.wires = append(d.wires, w)
	return w
}

func (d *fakeDialer) DialWebSocket(url string, ev WireEvents) Wire {
	return d.dial(KindWebSocket, url, ev)
}
func (d *fakeDialer) DialSSE(url string, ev WireEvents) Wire { return d.dial(KindSSE, url, ev) }

func (d *fakeDialer) Post(url string, body []byte, key string, done func(int, []byte, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.posts = append(d.posts, &fakePost{url: url, body: string(body), key: key, done: done})
}

func (d *fakeDialer) Get(url string, done func(int, []byte, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gets = append(d.gets, &fakePost{url: url, done: done})
}

func (d *fakeDialer) lastGet() *fakePost {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.gets) == 0 {
		d.t.Fatal("no GET sent")
	}
	return d.gets[len(d.gets)-1]
}

func (d *fakeDialer) Refresh(done func(error)) {
	d.mu.Lock()
	d.refreshes++
	err := d.refreshErr
	d.mu.Unlock()
	done(err)
}

func (d *fakeDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.wires)
}

// last returns the last wire dialed, failing unless it is of kind.
func (d *fakeDialer) last(kind Kind) *fakeWire {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.wires) == 0 {
		d.t.Fatalf("no wire dialed, want %v", kind)
	}
	w := d.wires[len(d.wires)-1]
	if w.kind != kind {
		d.t.Fatalf("last wire is %v (%s), want %v", w.kind, w.url, kind)
	}
	return w
}

func (d *fakeDialer) lastPost() *fakePost {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.posts) == 0 {
		d.t.Fatal("nothing posted")
	}
	return d.posts[len(d.posts)-1]
}

func (w *fakeWire) Send(p []byte) error {
	f, err := shared.DecodeFrame(p)
	if err != nil {
		w.d.t.Errorf("client sent an undecodable frame %q: %v", p, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, f)
	return nil
}

// SendBinary records a binary frame as a Frame with Binary set.
func (w *fakeWire) SendBinary(p []byte) error {
	f, err := shared.DecodeBinaryFrame(p)
	if err != nil {
		w.d.t.Errorf("client sent an undecodable binary frame %x: %v", p, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, f)
	return nil
}

func (w *fakeWire) Close(code shared.Code, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if code != shared.CodeNormal && (code < 3000 || code > 4999) {
		w.d.t.Errorf("client closed with code %d, which browsers refuse", code)
	}
	w.closed, w.code = true, code
}

func (w *fakeWire) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// frames returns what the client sent, and forgets it.
func (w *fakeWire) frames() []shared.Frame {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.sent
	w.sent = nil
	return f
}

func (w *fakeWire) open()                                { w.ev.Opened() }
func (w *fakeWire) recv(s string)                        { w.ev.Received([]byte(s)) }
func (w *fakeWire) drop(code shared.Code, reason string) { w.ev.Closed(code, reason) }

// hello opens the wire and says hello, as the server does.
func (w *fakeWire) hello(heartbeatMs int) {
	w.open()
	hello := `{"type":"hello","heartbeatMs":` + strconv.Itoa(heartbeatMs) + `}`
	if w.kind == KindSSE {
		w.recv("retry: 1000\nevent: duet.hello\ndata: " + hello + "\n\n")
		return
	}
	w.recv(hello)
}

// msg sends a message on the wire, in the wire's format.
func (w *fakeWire) msg(id, channel, data string) {
	e := shared.Envelope{ID: id, Channel: channel, Event: "message", Data: []byte(data), TS: 1}
	if w.kind == KindSSE {
		w.recv("id: " + id + "\nevent: message\ndata: " + string(shared.AppendEnvelope(nil, &e)) + "\n\n")
		return
	}
	f := shared.MessageFrame(&e)
	w.recv(string(shared.AppendFrame(nil, &f)))
}

// recorder is an Observer that writes what it hears as lines.
type recorder struct {
	mu     sync.Mutex
	events []string
	// onMessage, when set, runs inside Message (to test re-entry).
	onMessage func(e *shared.Envelope)
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) StateChanged(s State, k Kind) { r.add("state " + s.String() + " " + k.String()) }
func (r *recorder) Message(e *shared.Envelope) {
	if e.Binary {
		r.add("msg " + e.Channel + " " + e.ID + " binary " + string(e.Data))
	} else {
		r.add("msg " + e.Channel + " " + e.ID + " " + string(e.Data))
	}
	if r.onMessage != nil {
		r.onMessage(e)
	}
}
func (r *recorder) Gap(g *Gap) {
	r.add("gap " + strings.Join(g.Channels, ",") + " " + g.LastEventID + "->" + g.ID + " " + g.Reason)
}
func (r *recorder) Error(e *shared.Error, fatal bool) {
	s := "error " + strconv.Itoa(int(e.Code))
	if fatal {
		s += " fatal"
	}
	r.add(s)
}

// take returns the events heard since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	if ev == nil {
		ev = []string{}
	}
	return ev
}

// messages returns the message events among evs.
func messages(evs []string) []string {
	out := []string{}
	for _, e := range evs {
		if strings.HasPrefix(e, "msg ") {
			out = append(out, e)
		}
	}
	return out
}

// published records the outcome of one Publish.
type published struct {
	mu   sync.Mutex
	n    int
	id   string
	err  error
	done bool
}

func (p *published) cb(id string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.id, p.err, p.done = id, err, true
}

func (p *published) result(t *testing.T) (string, error) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		t.Fatal("publish not settled")
	}
	if p.n != 1 {
		t.Fatalf("publish settled %d times", p.n)
	}
	return p.id, p.err
}

func (p *published) pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.done
}
