package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	sse "github.com/tmaxmax/go-sse"
)

// stream is what the resume tests need of either wire's test client.
type stream interface {
	expectIDs(ids ...string)
	expectGap(channels []string, from, at, reason string)
	close()
}

// sseQuery builds /rt/sse's query.
func sseQuery(lastEventID string, channels ...string) string {
	q := url.Values{"channel": channels}
	if lastEventID != "" {
		q.Set("lastEventId", lastEventID)
	}
	return q.Encode()
}

// resumeWires are the three ways a client hands the server its last id.
var resumeWires = []struct {
	name string
	open func(t *testing.T, ts *testServer, last string, channels ...string) stream
}{{
	name: "sse Last-Event-ID",
	open: func(t *testing.T, ts *testServer, last string, channels ...string) stream {
		var h http.Header
		if last != "" {
			h = http.Header{"Last-Event-ID": {last}}
		}
		return ts.openSSE(t, sseQuery("", channels...), h)
	},
}, {
	name: "sse lastEventId",
	open: func(t *testing.T, ts *testServer, last string, channels ...string) stream {
		return ts.openSSE(t, sseQuery(last, channels...), nil)
	},
}, {
	name: "ws",
	open: func(t *testing.T, ts *testServer, last string, channels ...string) stream {
		c := ts.openWS(t)
		sub := c.subscribe("r", last, channels...)
		assert.Equal(t, "subscribed channels", sub.Channels, channels)
		return c
	},
}}

// TestResume: after a disconnect with N messages published meanwhile, a
// client gets exactly those N, in order, with no duplicates, on whichever
// wire it comes back on.
func TestResume(t *testing.T) {
	t.Parallel()
	for _, first := range resumeWires {
		for _, second := range resumeWires {
			t.Run(first.name+" then "+second.name, func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t, testConfig(), MemoryConfig{})
				c := first.open(t, ts, "", "c")
				var seen []string
				for i := range 3 {
					seen = append(seen, ts.publish(t, "c", "", `{"before":`+strconv.Itoa(i)+`}`))
				}
				c.expectIDs(seen...)
				c.close()

				var missed []string
				for i := range 5 {
					missed = append(missed, ts.publish(t, "c", "", `{"missed":`+strconv.Itoa(i)+`}`))
					ts.publish(t, "elsewhere", "", `0`) // not subscribed: never seen
				}
				c = second.open(t, ts, seen[len(seen)-1], "c")
				// A duplicate or an extra message would arrive before the live one.
				live := ts.publish(t, "c", "", `"live"`)
				c.expectIDs(append(missed, live)...)
			})
		}
	}
}

// TestResumeNothingMissed: resuming from the latest id replays nothing.
func TestResumeNothingMissed(t *testing.T) {
	t.Parallel()
	for _, w := range resumeWires {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, testConfig(), MemoryConfig{})
			last := ts.publish(t, "c", "", `1`)
			c := w.open(t, ts, last, "c")
			live := ts.publish(t, "c", "", `2`)
			c.expectIDs(live)
		})
	}
}

// TestResumeMultiChannel: one id resumes every channel of a connection, in
// the global order of publication, including a channel the client did not
// hold when it saw that id.
func TestResumeMultiChannel(t *testing.T) {
	t.Parallel()
	for _, w := range resumeWires {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, testConfig(), MemoryConfig{})
			ts.publish(t, "d", "", `"d before: never replayed"`)
			c := w.open(t, ts, "", "a", "b", "c")
			var seen []string
			for _, ch := range []string{"a", "b", "x", "c", "a"} {
				id := ts.publish(t, ch, "", `"`+ch+`"`)
				if ch != "x" {
					seen = append(seen, id)
				}
			}
			c.expectIDs(seen...)
			c.close()
			last := seen[len(seen)-1]

			var missed []string
			for _, ch := range []string{"c", "x", "b", "d", "a", "b", "x", "c", "d"} {
				id := ts.publish(t, ch, "", `"`+ch+`"`)
				if ch != "x" {
					missed = append(missed, id)
				}
			}
			c = w.open(t, ts, last, "a", "b", "c", "d")
			live := ts.publish(t, "b", "", `"live"`)
			c.expectIDs(append(missed, live)...)
		})
	}
}

// TestResumeGap: resuming from an id older than history yields a gap notice
// at position P, then the retained messages; resuming from P yields those
// messages again and no second gap.
func TestResumeGap(t *testing.T) {
	t.Parallel()
	for _, w := range resumeWires {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, testConfig(), MemoryConfig{HistorySize: 3})
			c := w.open(t, ts, "", "c")
			first := ts.publish(t, "c", "", `1`)
			c.expectIDs(first)
			c.close()
			for i := 2; i <= 7; i++ {
				ts.publish(t, "c", "", `0`)
			}
			// History keeps 5, 6 and 7: 2 to 4 are gone.
			c = w.open(t, ts, first, "c")
			c.expectGap([]string{"c"}, first, idOf(4), shared.GapExpired)
			c.expectIDs(idOf(5), idOf(6), idOf(7))
			c.close()

			c = w.open(t, ts, idOf(4), "c")
			live := ts.publish(t, "c", "", `"live"`)
			c.expectIDs(idOf(5), idOf(6), idOf(7), live)
		})
	}
}

// TestResumeGapOneChannel: only the channels that lost messages are named,
// and the other channels' messages are still replayed in order.
func TestResumeGapOneChannel(t *testing.T) {
	t.Parallel()
	for _, w := range resumeWires {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, testConfig(), MemoryConfig{HistorySize: 2})
			c := w.open(t, ts, "", "a", "b")
			a1 := ts.publish(t, "a", "", `1`)
			b2 := ts.publish(t, "b", "", `2`)
			c.expectIDs(a1, b2)
			c.close()
			for _, ch := range []string{"a", "a", "a", "b"} { // 3, 4, 5, 6
				ts.publish(t, ch, "", `0`)
			}
			// "a" keeps 4 and 5 (3 is gone), "b" keeps 2 and 6.
			c = w.open(t, ts, b2, "a", "b")
			c.expectGap([]string{"a"}, b2, idOf(3), shared.GapExpired)
			live := ts.publish(t, "b", "", `"live"`)
			c.expectIDs(idOf(4), idOf(5), idOf(6), live)
		})
	}
}

// TestResumeAfterRestart: an id from before a restart (another epoch) gets
// a "restarted" gap and everything the new server holds; never a silent hole.
func TestResumeAfterRestart(t *testing.T) {
	t.Parallel()
	for _, w := range resumeWires {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			before := newTestServer(t, testConfig(), MemoryConfig{})
			c := w.open(t, before, "", "c")
			ids := []string{before.publish(t, "c", "", `1`), before.publish(t, "c", "", `2`)}
			c.expectIDs(ids...)
			c.close()
			last := ids[1]

			// The restarted server: same channels, a new epoch, new messages.
			after := newTestServer(t, testConfig(), MemoryConfig{Epoch: testEpoch + 1})
			var fresh []string
			for range 3 {
				fresh = append(fresh, after.publish(t, "c", "", `3`))
				after.publish(t, "other", "", `0`)
			}
			assert.True(t, "new epoch", strings.HasPrefix(fresh[0], "8-"))
			c = w.open(t, after, last, "c")
			c.expectGap([]string{"c"}, last, "8-0", shared.GapRestarted)
			c.expectIDs(fresh...)
			c.close()

			c = w.open(t, after, "8-0", "c")
			live := after.publish(t, "c", "", `"live"`)
			c.expectIDs(append(fresh, live)...)
		})
	}
}

// TestResumeRefused: a future id (this epoch, never issued) and malformed
// ids are refused with 4424: an HTTP 400 on SSE, an error frame on
// WebSocket (the connection stays usable).
func TestResumeRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	head := ts.publish(t, "c", "", `1`)
	assert.Equal(t, "head", head, idOf(1))
	ws := ts.openWS(t)
	tests := []struct{ name, id string }{
		{"future", idOf(99)},
		{"no dash", "71"},
		{"no seq", "7-"},
		{"no epoch", "-1"},
		{"leading zero", "07-1"},
		{"leading zero seq", "7-01"},
		{"two dashes", "7-1-1"},
		{"letters", "abc"},
		{"space", "7 -1"},
		{"overflow", "7-18446744073709551616"},
		{"too long", strings.Repeat("1", 21) + "-" + strings.Repeat("1", 21)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(t, http.MethodGet, "/rt/sse?"+sseQuery(tt.id, "c"), nil, "")
			assert.Equal(t, "SSE query status", resp.StatusCode, http.StatusBadRequest)
			assert.Equal(t, "SSE query code", errorBody(t, body), shared.CodeBadID)

			resp, body = ts.do(t, http.MethodGet, "/rt/sse?"+sseQuery("", "c"), http.Header{"Last-Event-ID": {tt.id}}, "")
			assert.Equal(t, "SSE header status", resp.StatusCode, http.StatusBadRequest)
			assert.Equal(t, "SSE header code", errorBody(t, body), shared.CodeBadID)

			ws.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: tt.name, Channels: []string{"c"}, LastEventID: tt.id})
			ws.expectError(tt.name, shared.CodeBadID)
		})
	}
	// The refusals subscribed nothing; the connection still works.
	ws.subscribe("ok", "", "c")
	id := ts.publish(t, "c", "", `2`)
	ws.expectIDs(id)
}

// TestResumeHeaderWins: Last-Event-ID (what EventSource sends on reconnect)
// wins over the lastEventId parameter (what it was first opened with).
func TestResumeHeaderWins(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	for range 3 {
		ts.publish(t, "c", "", `0`)
	}
	c := ts.openSSE(t, sseQuery(idOf(1), "c"), http.Header{"Last-Event-ID": {idOf(2)}})
	c.expectIDs(idOf(3))
}

// TestGoSSEReconnect: go-sse's Connection reconnects by itself after the
// server drops it and resumes with Last-Event-ID: no message lost or
// repeated.
func TestGoSSEReconnect(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SSERetry = 10 * time.Millisecond // go-sse waits what the server's retry field says
	var tracker *connTracker
	ts := newTestServerOn(t, cfg, MemoryConfig{}, func(ln net.Listener) net.Listener {
		tracker = &connTracker{Listener: ln}
		return tracker
	})
	retrying := make(chan struct{}, 1)
	proceed := make(chan struct{})
	client := &sse.Client{
		HTTPClient: ts.srv.Client(),
		Backoff:    sse.Backoff{InitialInterval: time.Millisecond, MaxRetries: 1},
		// Hold the reconnection until the test has published what the
		// client misses meanwhile.
		OnRetry: func(error, time.Duration) {
			retrying <- struct{}{}
			<-proceed
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=c", nil)
	assert.NoError(t, err)
	conn := client.NewConnection(req)
	events := make(chan sse.Event, 64)
	conn.SubscribeToAll(func(ev sse.Event) { events <- ev })
	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Connect: %v", err)
		}
	})
	next := func() sse.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(waitTimeout):
			t.Fatal("no event")
			return sse.Event{}
		}
	}
	expect := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			ev := next()
			assert.Equal(t, "event", ev.Type, "message")
			assert.Equal(t, "id", ev.LastEventID, id)
		}
	}

	assert.Equal(t, "first event", next().Type, sseHelloEvent)
	expect(ts.publish(t, "c", "", `1`), ts.publish(t, "c", "", `2`))
	tracker.closeAll() // the stream is hijacked: httptest no longer tracks it
	select {
	case <-retrying:
	case <-time.After(waitTimeout):
		t.Fatal("go-sse did not retry")
	}
	missed := []string{ts.publish(t, "c", "", `3`), ts.publish(t, "c", "", `4`), ts.publish(t, "c", "", `5`)}
	close(proceed)
	assert.Equal(t, "reconnected", next().Type, sseHelloEvent)
	live := ts.publish(t, "c", "", `6`)
	expect(append(missed, live)...)
}
