package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	sse "github.com/tmaxmax/go-sse"
)

// An honest client subscribes to one channel on one wire, reconnects with
// its last id whenever the connection ends, and logs every message number
// and gap notice it receives, in order. The publisher numbers its messages
// 1, 2, 3…; the ledger's analysis then counts what was lost, duplicated or
// reordered.

// entry is one thing an honest client received: a message number, or a gap
// notice (n == 0).
type entry struct {
	n       int
	latency time.Duration // now minus the envelope's server timestamp
}

type honest struct {
	name  string
	wire  string
	bases []string // base URLs tried in turn on reconnect (failover)

	mu         sync.Mutex // guards the fields below
	log        []entry
	lastID     string
	last       int // highest message number received
	reconnects int
	refused    []string // errors that a client must not get
	ended      []string // why each connection ended
	notify     chan struct{}
	ready      chan struct{} // closed once the first subscription is in place
	readyOnce  sync.Once
}

func newHonest(name, wire string, bases ...string) *honest {
	return &honest{name: name, wire: wire, bases: bases, notify: make(chan struct{}, 1), ready: make(chan struct{})}
}

func (h *honest) subscribed() { h.readyOnce.Do(func() { close(h.ready) }) }

// run keeps the client connected until ctx ends.
func (h *honest) run(ctx context.Context, channel string) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		base := h.bases[attempt%len(h.bases)]
		var err error
		if h.wire == "ws" {
			err = h.ws(ctx, base, channel)
		} else {
			err = h.sse(ctx, base, channel)
		}
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		h.reconnects++
		if err != nil {
			h.ended = append(h.ended, err.Error())
		}
		if err != nil && isFatal(err) {
			h.refused = append(h.refused, err.Error())
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fatalError is an answer an honest client should never get.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

func isFatal(err error) bool {
	var f *fatalError
	return errors.As(err, &f)
}

func (h *honest) message(id string, data []byte, ts int64) {
	var body struct{ N int }
	_ = json.Unmarshal(data, &body)
	lat := time.Since(time.UnixMilli(ts))
	h.mu.Lock()
	h.log = append(h.log, entry{n: body.N, latency: lat})
	h.lastID = id
	h.last = max(h.last, body.N)
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

func (h *honest) gap(id string) {
	h.mu.Lock()
	h.log = append(h.log, entry{})
	h.lastID = id
	h.mu.Unlock()
}

func (h *honest) resumeID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastID
}

func (h *honest) disconnectReasons() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ended)
}

// waitFor waits until the client has received message n.
func (h *honest) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		h.mu.Lock()
		last := h.last
		h.mu.Unlock()
		if last >= n {
			return
		}
		select {
		case <-h.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: has message %d, still waiting for %d after %v", h.name, last, n, within)
		}
	}
}

func (h *honest) ws(ctx context.Context, base, channel string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, resp, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+"/rt/ws", &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode/100 == 4 {
			return &fatalError{"websocket upgrade refused with " + resp.Status}
		}
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "s", Channels: []string{channel}, LastEventID: h.resumeID()}
	if err := conn.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)); err != nil {
		return err
	}
	for {
		_, p, err := conn.Read(ctx)
		if err != nil {
			if c := websocket.CloseStatus(err); c >= 4400 && c < 4500 {
				return &fatalError{"closed with " + strconv.Itoa(int(c))}
			}
			return err
		}
		for line := range strings.SplitSeq(string(p), "\n") {
			f, err := shared.DecodeFrame([]byte(line))
			if err != nil {
				return &fatalError{"undecodable frame " + line}
			}
			switch f.Type {
			case shared.TypeMessage:
				h.message(f.ID, f.Data, f.TS)
			case shared.TypeGap:
				h.gap(f.ID)
			case shared.TypeSubscribed:
				h.subscribed()
			case shared.TypeError:
				return &fatalError{"error frame " + line}
			}
		}
	}
}

func (h *honest) sse(ctx context.Context, base, channel string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rt/sse?channel="+channel, nil)
	if err != nil {
		return err
	}
	req.Close = true // no idle keep-alive connection outlives the test
	if id := h.resumeID(); id != "" {
		req.Header.Set("Last-Event-ID", id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode/100 == 4 {
			return &fatalError{"SSE refused with " + resp.Status}
		}
		return errors.New("SSE status " + resp.Status)
	}
	for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 8 << 20}) {
		if err != nil {
			return err
		}
		switch ev.Type {
		case "duet.gap":
			h.gap(ev.LastEventID)
		case "duet.hello":
			h.subscribed() // sent once the subscription is in place
		case "duet.close":
		default:
			env, err := shared.DecodeEnvelope([]byte(ev.Data))
			if err != nil {
				return &fatalError{"undecodable envelope " + ev.Data}
			}
			h.message(env.ID, env.Data, env.TS)
		}
	}
	return nil
}

// tally is what a ledger analysis found in one client's log.
type tally struct {
	received    int
	lost        int // acknowledged, missing, and no gap notice where it would be
	lostNoticed int // acknowledged, missing, a gap notice in its place
	high        int // the highest number received
	duplicated  int
	reordered   int
	gaps        int
	reconnects  int
	p50, p99    time.Duration
	max         time.Duration
	refused     []string
}

// analyze checks h's log against the acknowledged numbers up to last.
// A missing number counts as announced (lostNoticed) only when a gap
// notice stands in its place and announceable(n) says a gap may cover it
// (with the in-memory broker: published before the crash, whose history
// is gone); any other missing number is lost. A nil announceable lets no
// gap excuse anything.
func (h *honest) analyze(acked func(n int) bool, last int, announceable func(n int) bool) tally {
	h.mu.Lock()
	defer h.mu.Unlock()
	tl := tally{reconnects: h.reconnects, refused: h.refused, high: h.last}
	seen := make(map[int]bool, len(h.log))
	var lats []time.Duration
	high, noticed := 0, false
	for _, e := range h.log {
		if e.n == 0 {
			tl.gaps++
			noticed = true
			continue
		}
		tl.received++
		lats = append(lats, e.latency)
		switch {
		case seen[e.n]:
			tl.duplicated++
		case e.n < high:
			tl.reordered++
		default:
			for k := high + 1; k < e.n; k++ {
				if !acked(k) {
					continue
				}
				if noticed && announceable != nil && announceable(k) {
					tl.lostNoticed++
				} else {
					tl.lost++
				}
			}
			high = e.n
		}
		seen[e.n] = true
		noticed = false
	}
	for k := high + 1; k <= last; k++ {
		if acked(k) {
			tl.lost++
		}
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		tl.p50, tl.p99, tl.max = lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1]
	}
	return tl
}

func (tl tally) String() string {
	return strconv.Itoa(tl.received) + " received, lost " + strconv.Itoa(tl.lost) +
		" (+" + strconv.Itoa(tl.lostNoticed) + " announced by a gap), duplicated " + strconv.Itoa(tl.duplicated) +
		", reordered " + strconv.Itoa(tl.reordered) + ", " + strconv.Itoa(tl.gaps) + " gap notices, " +
		strconv.Itoa(tl.reconnects) + " reconnects; latency p50 " + tl.p50.String() + ", p99 " + tl.p99.String() + ", max " + tl.max.String()
}

// honestClients runs one honest client per wire on channel against bases
// until the returned stop is called.
func honestClients(t *testing.T, channel string, bases ...string) (clients []*honest, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, wire := range []string{"sse", "ws"} {
		h := newHonest("honest "+wire, wire, bases...)
		clients = append(clients, h)
		wg.Go(func() { h.run(ctx, channel) })
	}
	for _, h := range clients {
		select {
		case <-h.ready:
		case <-time.After(waitTimeout):
			cancel()
			wg.Wait()
			t.Fatalf("%s: not subscribed within %v", h.name, waitTimeout)
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return clients, stop
}
