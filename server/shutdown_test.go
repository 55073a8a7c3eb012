package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
)

// TestShutdown: every client is told to reconnect elsewhere (4002), new
// connections are refused with 503, and Shutdown returns well before its
// deadline.
func TestShutdown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	sse1 := ts.openSSE(t, "channel=a", nil)
	sse2 := ts.openSSE(t, "channel=a&channel=b", nil)
	ws1 := ts.openWS(t)
	ws1.subscribe("s", "", "a")
	ws2 := ts.openWS(t) // connected, never subscribed
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(2))

	const deadline = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	assertSuccess(t, ts.hub.Shutdown(ctx))
	took := time.Since(start)
	t.Logf("Shutdown took %v", took)
	assertTrue(t, "Shutdown returned before its deadline", took < deadline)

	for _, c := range []*sseClient{sse1, sse2} {
		rest := c.end(waitTimeout)
		assertTrue(t, "SSE got a close event", len(rest) > 0)
		last := rest[len(rest)-1]
		assertEqual(t, "SSE last event", sseCloseEvent, last.Type)
		f, err := shared.DecodeFrame([]byte(last.Data))
		assertSuccess(t, err)
		assertEqual(t, "SSE close code", shared.CodeShutdown, f.Code)
		assertEqual(t, "action", shared.ActionReconnect, f.Code.Action())
	}
	for _, c := range []*wsClient{ws1, ws2} {
		code, _ := c.closeStatus(waitTimeout)
		assertEqual(t, "WS close code", websocket.StatusCode(shared.CodeShutdown), code)
	}
	m := ts.metrics(t)
	assertEqual(t, "SSE connections", int64(0), m[sseConnsMetric])
	assertEqual(t, "WS connections", int64(0), m[wsConnsMetric])

	t.Run("new connections get 503", func(t *testing.T) {
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
		assertEqual(t, "SSE status", http.StatusServiceUnavailable, resp.StatusCode)
		assertEqual(t, "SSE code", shared.CodeShutdown, errorBody(t, body))

		conn, resp, err := ts.dialWS(t, nil)
		if err == nil {
			conn.CloseNow()
			t.Fatal("WS dial succeeded after Shutdown")
		}
		assertEqual(t, "WS status", http.StatusServiceUnavailable, resp.StatusCode)

		resp, body = ts.do(t, http.MethodGet, "/rt/healthz", nil, "")
		assertEqual(t, "healthz status", http.StatusServiceUnavailable, resp.StatusCode)
		assertEqual(t, "healthz code", shared.CodeShutdown, errorBody(t, body))
	})
}

// TestShutdownOwnBroker: a hub that made its broker closes it, so publishing
// afterwards is refused with 503 too.
func TestShutdownOwnBroker(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h, err := NewHub(&cfg)
	assertSuccess(t, err)
	ts := serveHub(t, h)
	c := ts.openSSE(t, "channel=a", nil)
	id := ts.publishHTTP(t, "a", "", `1`)
	c.expectIDs(id)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	assertSuccess(t, h.Shutdown(ctx))
	c.end(waitTimeout)
	assertErrorIs(t, ErrBrokerClosed, h.Broker().Healthy())

	resp, body := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader, `{"channel":"a","data":1}`)
	assertEqual(t, "publish status", http.StatusServiceUnavailable, resp.StatusCode)
	assertEqual(t, "publish code", shared.CodeShutdown, errorBody(t, body))
	_, err = h.Publish(ctx, "a", "", []byte(`1`))
	assertErrorIs(t, ErrBrokerClosed, err)
}

// TestShutdownDeadline: a client that never answers cannot hold Shutdown
// past its context; the connection still ends within its own bounds.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// A raw peer that completes the handshake and then neither reads nor
	// answers the close handshake.
	raw, err := dialRawWS(ctx, smallBufferDialer(), ts.addr())
	assertSuccess(t, err)
	defer raw.conn.Close()
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(1))

	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	err = ts.hub.Shutdown(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		// The peer may have been dealt with within 100ms; that is fine too.
		assertSuccess(t, err)
	}
	assertTrue(t, "Shutdown honoured its deadline", time.Since(start) < 2*time.Second)
	// The connection is still bounded: the close handshake gives up.
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(0))
}
