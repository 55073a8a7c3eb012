package server

import (
	"context"
	"io"
	"iter"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	sse "github.com/tmaxmax/go-sse"
)

// TestStoppedReaderIsCutOff: a client that completes its handshake and then
// never reads again is disconnected within Heartbeat+WriteTimeout once the
// path to it is full, on both wires.
func TestStoppedReaderIsCutOff(t *testing.T) {
	t.Parallel()
	const (
		// The heartbeat is long enough that no WebSocket ping goes
		// unanswered while the test fills the path: the cut-off under test
		// is the write deadline's (TestHalfOpenWebSocketIsCutOff covers
		// pings).
		heartbeat    = 2 * time.Second
		writeTimeout = 500 * time.Millisecond
		msgSize      = 16 << 10
		// Scheduling slack under -race on two cores.
		margin = 2 * time.Second
	)
	tests := []struct {
		name    string
		metric  string
		connect func(t *testing.T, ctx context.Context, ts *testServer) io.Closer
	}{{
		name:   "sse",
		metric: sseConnsMetric,
		connect: func(t *testing.T, ctx context.Context, ts *testServer) io.Closer {
			return connectSSE(t, ctx, ts, smallBufferDialer())
		},
	}, {
		name:   "ws",
		metric: wsConnsMetric,
		connect: func(t *testing.T, ctx context.Context, ts *testServer) io.Closer {
			return connectWS(t, ctx, ts, smallBufferDialer())
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Heartbeat, cfg.WriteTimeout = heartbeat, writeTimeout
			cfg.MaxPublishBytes = msgSize
			ts := newTestServerOn(t, cfg, MemoryConfig{HistorySize: 1}, smallSendBuffers)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			conn := tt.connect(t, ctx, ts)
			defer conn.Close()
			ts.waitMetric(t, tt.metric, waitTimeout, equals(1))

			// Enough to fill the path to the client twice over.
			data := fill(msgSize)
			start := time.Now()
			for range 2*pathCapacity/msgSize + 8 {
				ts.publish(t, "big", "", data)
			}
			t.Logf("published in %v", time.Since(start))
			took := ts.waitMetric(t, tt.metric, heartbeat+writeTimeout+margin, equals(0))
			t.Logf("cut off %v after the last publish", took)
			assert.Equal(t, "write errors", ts.metrics(t)["duet_write_errors_total"], int64(1))
		})
	}
}

// TestHalfOpenWebSocketIsCutOff: a peer that reads everything but never
// answers a WebSocket ping (a half-open connection, or a stuck client) is
// told 4001 and cut off.
func TestHalfOpenWebSocketIsCutOff(t *testing.T) {
	t.Parallel()
	const (
		heartbeat    = 200 * time.Millisecond
		writeTimeout = 400 * time.Millisecond
		// The library's close handshake waits up to 5s for the peer's
		// close frame, which a half-open peer never sends.
		closeHandshake = 5 * time.Second
		margin         = 2 * time.Second
	)
	cfg := testConfig()
	cfg.Heartbeat, cfg.WriteTimeout = heartbeat, writeTimeout
	ts := newTestServer(t, cfg, MemoryConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	raw, err := dialRawWS(ctx, &net.Dialer{}, ts.addr())
	assert.NoError(t, err)
	defer raw.conn.Close()

	start := time.Now()
	var pings int
	closeCode := -1
	_ = raw.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for closeCode < 0 {
		op, p, err := raw.readFrame(nil)
		if err != nil {
			t.Fatalf("connection ended without a close frame after %v (%d pings): %v", time.Since(start), pings, err)
		}
		switch op {
		case opPing:
			pings++ // and never answer it
		case opClose:
			assert.True(t, "close frame has a code", len(p) >= 2)
			closeCode = int(p[0])<<8 | int(p[1])
		}
	}
	t.Logf("close frame after %v, %d pings", time.Since(start), pings)
	assert.Equal(t, "close code", closeCode, int(shared.CodeHeartbeatTimeout))
	assert.True(t, "the server pinged", pings >= 1)
	assert.True(t, "4001 in time", time.Since(start) < heartbeat+writeTimeout+margin)
	took := time.Since(start) + ts.waitMetric(t, wsConnsMetric, closeHandshake+margin, equals(0))
	t.Logf("cut off after %v", took)
	assert.True(t, "cut off in time", took < heartbeat+writeTimeout+closeHandshake+margin)
	assert.Equal(t, "heartbeat timeouts", ts.metrics(t)["duet_heartbeat_timeouts_total"], int64(1))
}

// TestSlowConsumer: a client that falls behind (small QueueSize, not
// reading) does not delay a fast one; it is disconnected with 4000 once it
// reads again, and resumes from its last id without losing a message.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const (
		queueSize = 8
		msgSize   = 16 << 10
		// Long enough that the slow client's blocked writes do not time
		// out before it reads again: the cut-off must be the queue's.
		writeTimeout = 8 * time.Second
		// Each message must reach the fast client long before the slow
		// one's writer gives up: that is what "not delayed" means here.
		fastBound = writeTimeout / 4
	)
	// The slow client stops reading; how it reads again, and what its
	// stream says at the end.
	type slowPeer struct {
		drain func() (ids []string, closeCode shared.Code)
	}
	tests := []struct {
		name   string
		metric string
		fast   func(t *testing.T, ts *testServer) stream
		slow   func(t *testing.T, ts *testServer, client *http.Client) slowPeer
		resume func(t *testing.T, ts *testServer, last string) stream
	}{{
		name:   "sse",
		metric: sseConnsMetric,
		fast: func(t *testing.T, ts *testServer) stream {
			return ts.openSSE(t, "channel=feed", nil)
		},
		slow: func(t *testing.T, ts *testServer, client *http.Client) slowPeer {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=feed", nil)
			assert.NoError(t, err)
			resp, err := client.Do(req)
			assert.NoError(t, err)
			t.Cleanup(func() { resp.Body.Close() })
			next, stop := iter.Pull2(sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 1 << 20}))
			t.Cleanup(stop)
			ev, err, ok := next()
			assert.True(t, "hello", ok && err == nil && ev.Type == sseHelloEvent)
			return slowPeer{drain: func() ([]string, shared.Code) {
				defer time.AfterFunc(waitTimeout, cancel).Stop() // bounds the reads below
				var ids []string
				for {
					ev, err, ok := next()
					if !ok {
						t.Fatal("SSE stream ended without a close event")
					}
					assert.NoError(t, err)
					if ev.Type == sseCloseEvent {
						f, err := shared.DecodeFrame([]byte(ev.Data))
						assert.NoError(t, err)
						_, _, ok := next()
						assert.True(t, "the stream ends after the close event", !ok)
						return ids, f.Code
					}
					ids = append(ids, ev.LastEventID)
				}
			}}
		},
		resume: func(t *testing.T, ts *testServer, last string) stream {
			return ts.openSSE(t, "channel=feed", http.Header{"Last-Event-ID": {last}})
		},
	}, {
		name:   "ws",
		metric: wsConnsMetric,
		fast: func(t *testing.T, ts *testServer) stream {
			c := ts.openWS(t)
			c.subscribe("f", "", "feed")
			return c
		},
		slow: func(t *testing.T, ts *testServer, client *http.Client) slowPeer {
			conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPClient: client})
			assert.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			assert.NoError(t, conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","ref":"s","channels":["feed"]}`)))
			// Read the hello and the subscribed reply, then nothing: no
			// Read means no pong either, which Heartbeat+WriteTimeout allow.
			for seen := ""; !strings.Contains(seen, `"subscribed"`); {
				_, p, err := conn.Read(ctx)
				assert.NoError(t, err)
				seen += string(p)
			}
			return slowPeer{drain: func() ([]string, shared.Code) {
				c := newWSClient(t, conn)
				code, frames := c.closeStatus(waitTimeout)
				var ids []string
				for _, f := range frames {
					assert.Equal(t, "frame type", f.Type, shared.TypeMessage)
					ids = append(ids, f.ID)
				}
				return ids, shared.Code(code)
			}}
		},
		resume: func(t *testing.T, ts *testServer, last string) stream {
			c := ts.openWS(t)
			c.subscribe("r", last, "feed")
			return c
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.QueueSize = queueSize
			cfg.Heartbeat, cfg.WriteTimeout = writeTimeout/2, writeTimeout
			cfg.MaxPublishBytes = msgSize
			ts := newTestServerOn(t, cfg, MemoryConfig{}, smallSendBuffers)
			fast := tt.fast(t, ts)
			tr := &http.Transport{DialContext: smallBufferDialer().DialContext}
			t.Cleanup(tr.CloseIdleConnections)
			slow := tt.slow(t, ts, &http.Client{Transport: tr})
			ts.waitMetric(t, tt.metric, waitTimeout, equals(2))

			// Publish one message at a time, each awaited by the fast
			// client, until the slow one's writer is certainly blocked on
			// a full socket and its queue has overflowed behind it.
			data := fill(msgSize - 1024)
			n := 2*pathCapacity/msgSize + 2*queueSize
			var ids []string
			for i := range n {
				start := time.Now()
				id := ts.publish(t, "feed", "", data)
				ids = append(ids, id)
				fast.expectIDs(id)
				if d := time.Since(start); d > fastBound {
					t.Fatalf("message %d took %v to reach the fast client", i, d)
				}
			}
			assert.Equal(t, "no slow consumer cut off while it was not reading", ts.metrics(t)[slowMetric], int64(0))

			got, code := slow.drain()
			assert.Equal(t, "close code", code, shared.CodeSlowConsumer)
			assert.Equal(t, "action", code.Action(), shared.ActionReconnect)
			assert.True(t, "the slow client missed messages", len(got) < len(ids))
			assert.Equal(t, "what the slow client got is a prefix of what was published", got, ids[:len(got)])
			ts.waitMetric(t, tt.metric, waitTimeout, equals(1))
			assert.Equal(t, "slow consumer disconnects", ts.metrics(t)[slowMetric], int64(1))

			// Nothing is lost: resuming from its last id yields the rest.
			last := idOf(0)
			if len(got) > 0 {
				last = got[len(got)-1]
			}
			r := tt.resume(t, ts, last)
			sentinel := ts.publish(t, "feed", "", `"live"`)
			r.expectIDs(append(ids[len(got):], sentinel)...)
			fast.expectIDs(sentinel)
		})
	}
}

// TestHealthyStreamsLast: the liveness machinery never cuts off a client
// that keeps up: streams read normally outlive many heartbeats and write
// timeouts.
func TestHealthyStreamsLast(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Heartbeat, cfg.WriteTimeout = 100*time.Millisecond, 300*time.Millisecond
	ts := newTestServer(t, cfg, MemoryConfig{})
	s := ts.openSSE(t, "channel=c", nil)
	w := ts.openWS(t)
	w.subscribe("s", "", "c")
	deadline := time.Now().Add(5 * cfg.WriteTimeout)
	for n := 0; time.Now().Before(deadline); n++ {
		id := ts.publish(t, "c", "", strconv.Itoa(n))
		s.expectIDs(id)
		w.expectIDs(id)
		time.Sleep(cfg.Heartbeat / 2) // the pace of a quiet channel: heartbeats run in between
	}
	m := ts.metrics(t)
	assert.Equal(t, "SSE connections", m[sseConnsMetric], int64(1))
	assert.Equal(t, "WS connections", m[wsConnsMetric], int64(1))
	assert.Equal(t, "write errors", m["duet_write_errors_total"], int64(0))
	assert.Equal(t, "heartbeat timeouts", m["duet_heartbeat_timeouts_total"], int64(0))
}
