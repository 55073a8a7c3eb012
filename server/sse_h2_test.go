package server

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
)

// newH2TestServer is newTestServer over TLS with HTTP/2: SSE streams stay
// in the handler (an HTTP/2 response writer cannot be hijacked).
func newH2TestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, HistorySize: 1})
	t.Cleanup(func() { _ = b.Close() })
	cfg.Broker = b
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	h, err := NewHub(&cfg)
	assert.NoError(t, err)
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	ts := startedHub(t, h, srv)
	ts.broker = b
	return ts
}

// TestHTTP2IdleSSEStreamOutlivesWriteTimeout: an idle SSE stream over
// HTTP/2 lives through several heartbeat periods when the write timeout is
// far shorter than the heartbeat, and still delivers afterwards. HTTP/2
// resets a stream whose write deadline passes even while nothing is being
// written.
func TestHTTP2IdleSSEStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const (
		heartbeat    = 600 * time.Millisecond
		writeTimeout = 100 * time.Millisecond
		periods      = 4
	)
	cfg := testConfig()
	cfg.Heartbeat, cfg.WriteTimeout = heartbeat, writeTimeout
	ts := newH2TestServer(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=idle", nil)
	assert.NoError(t, err)
	resp, err := ts.srv.Client().Do(req)
	assert.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "protocol", resp.Proto, "HTTP/2.0")
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)

	// Read raw lines: heartbeats are SSE comments, which parsers drop.
	lines := make(chan string, 64)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				readErr <- err
				close(lines)
				return
			}
			lines <- line
		}
	}()
	pings := 0
	deadline := time.After(periods*heartbeat + heartbeat/2)
	for idle := true; idle; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended after %d heartbeats: %v", pings, <-readErr)
			}
			if line == string(ssePing[:len(ssePing)-1]) {
				pings++
			}
		case <-deadline:
			idle = false
		}
	}
	assert.True(t, "at least two heartbeats while idle", pings >= 2)
	t.Logf("%d heartbeats while idle", pings)

	id := ts.publish(t, "idle", "", `"after the idle periods"`)
	for {
		line, ok := <-lines
		if !ok {
			t.Fatalf("stream ended before the message: %v", <-readErr)
		}
		if line == "id: "+id+"\n" {
			break
		}
	}
	cancel()
	for range lines {
	}
}

// TestHTTP2StalledSSEStreamIsCutOff: an HTTP/2 SSE stream whose client stops
// reading is still cut off by the write deadline once its flow-control
// window is full.
func TestHTTP2StalledSSEStreamIsCutOff(t *testing.T) {
	t.Parallel()
	const (
		heartbeat    = 2 * time.Second
		writeTimeout = 300 * time.Millisecond
		msgSize      = 16 << 10
		window       = 64 << 10
		margin       = 2 * time.Second
	)
	cfg := testConfig()
	cfg.Heartbeat, cfg.WriteTimeout = heartbeat, writeTimeout
	cfg.MaxPublishBytes = msgSize
	ts := newH2TestServer(t, cfg)

	// A client with a small receive window per stream: the server blocks
	// once it has sent that much the client does not read.
	tr := ts.srv.Client().Transport.(*http.Transport).Clone()
	tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: window}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=big", nil)
	assert.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	assert.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "protocol", resp.Proto, "HTTP/2.0")
	ts.waitMetric(t, sseConnsMetric, waitTimeout, equals(1))

	data := fill(msgSize)
	for range 2*window/msgSize + 8 {
		ts.publish(t, "big", "", data)
	}
	took := ts.waitMetric(t, sseConnsMetric, heartbeat+writeTimeout+margin, equals(0))
	t.Logf("cut off %v after the last publish", took)
	assert.Equal(t, "write errors", ts.metrics(t)["duet_write_errors_total"], int64(1))
}
