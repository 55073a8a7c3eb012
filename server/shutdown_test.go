package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestShutdown: every client is told to reconnect elsewhere (4002), new
// connections are refused (503; SSE with a 200 saying to retry later), and
// Shutdown returns well before its deadline.
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
	assert.NoError(t, ts.hub.Shutdown(ctx))
	took := time.Since(start)
	t.Logf("Shutdown took %v", took)
	// Well before: it returns once the connections are closed, not at the
	// deadline (half of it allows for a loaded machine under -race).
	assert.True(t, "Shutdown returned well before its deadline", took < deadline/2)

	for _, c := range []*sseClient{sse1, sse2} {
		rest := c.end(waitTimeout)
		assert.True(t, "SSE got a close event", len(rest) > 0)
		last := rest[len(rest)-1]
		assert.Equal(t, "SSE last event", last.Type, sseCloseEvent)
		f, err := shared.DecodeFrame([]byte(last.Data))
		assert.NoError(t, err)
		assert.Equal(t, "SSE close code", f.Code, shared.CodeShutdown)
		assert.Equal(t, "action", f.Code.Action(), shared.ActionReconnect)
	}
	for _, c := range []*wsClient{ws1, ws2} {
		code, _ := c.closeStatus(waitTimeout)
		assert.Equal(t, "WS close code", code, websocket.StatusCode(shared.CodeShutdown))
	}
	m := ts.metrics(t)
	assert.Equal(t, "SSE connections", m[sseConnsMetric], int64(0))
	assert.Equal(t, "WS connections", m[wsConnsMetric], int64(0))

	t.Run("new connections are refused", func(t *testing.T) {
		// SSE: a 200 that says to retry later (PROTOCOL §3.5), so that a
		// native EventSource comes back, to the node replacing this one;
		// a 503 would end it for good.
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
		assert.Equal(t, "SSE status", resp.StatusCode, http.StatusOK)
		assert.Equal(t, "SSE content type", resp.Header.Get("Content-Type"), "text/event-stream")
		assertRetryLater(t, string(body), shared.CodeShutdown)

		conn, resp, err := ts.dialWS(t, nil)
		if err == nil {
			conn.CloseNow()
			t.Fatal("WS dial succeeded after Shutdown")
		}
		assert.Equal(t, "WS status", resp.StatusCode, http.StatusServiceUnavailable)

		resp, body = ts.do(t, http.MethodGet, "/rt/healthz", nil, "")
		assert.Equal(t, "healthz status", resp.StatusCode, http.StatusServiceUnavailable)
		assert.Equal(t, "healthz code", errorBody(t, body), shared.CodeShutdown)
	})
}

// TestShutdownOwnBroker: a hub that made its broker closes it, so publishing
// afterwards is refused with 503 too.
func TestShutdownOwnBroker(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h, err := NewHub(&cfg)
	assert.NoError(t, err)
	ts := serveHub(t, h)
	c := ts.openSSE(t, "channel=a", nil)
	id := ts.publishHTTP(t, "a", "", `1`)
	c.expectIDs(id)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	assert.NoError(t, h.Shutdown(ctx))
	c.end(waitTimeout)
	assert.ErrorIs(t, h.Broker().Healthy(), ErrBrokerClosed)

	resp, body := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader, `{"channel":"a","data":1}`)
	assert.Equal(t, "publish status", resp.StatusCode, http.StatusServiceUnavailable)
	assert.Equal(t, "publish code", errorBody(t, body), shared.CodeShutdown)
	_, err = h.Publish(ctx, "a", "", []byte(`1`))
	assert.ErrorIs(t, err, ErrBrokerClosed)
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
	assert.NoError(t, err)
	defer raw.conn.Close()
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(1))

	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	err = ts.hub.Shutdown(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		// The peer may have been dealt with within 100ms; that is fine too.
		assert.NoError(t, err)
	}
	assert.True(t, "Shutdown honoured its deadline", time.Since(start) < 2*time.Second)
	// The connection is still bounded: the close handshake gives up.
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(0))
}
