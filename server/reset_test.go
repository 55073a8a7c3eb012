package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
)

// TestCutConnectionIsReset: a connection the server ends because its client
// stopped reading (a write timeout) is reset, not closed behind the
// data the kernel still holds: a client that starts reading late sees the
// end at once, after at most what its own receive buffer held, instead of
// being fed megabytes through a tiny window first. Nginx's
// reset_timedout_connection does the same.
func TestCutConnectionIsReset(t *testing.T) {
	t.Parallel()
	const (
		msgSize      = 16 << 10
		writeTimeout = 400 * time.Millisecond
		// What the client may still read once it starts: its receive
		// buffer (the kernel doubles the 4 KiB asked for, and loopback may
		// hold a little more in flight). Before resets it read everything
		// the server's send buffer held: megabytes.
		readBound = 256 << 10
		// How long the end may take once the client reads.
		endBound = 3 * time.Second
	)
	tests := []struct {
		name, conns string
		connect     func(t *testing.T, ctx context.Context, ts *testServer, d *net.Dialer) net.Conn
	}{
		{"sse", sseConnsMetric, connectSSE},
		{"ws", wsConnsMetric, connectWS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.Heartbeat, cfg.WriteTimeout = 30*time.Second, writeTimeout
			cfg.MaxPublishBytes = msgSize
			ts := newTestServer(t, cfg, MemoryConfig{HistorySize: 1})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			conn := tt.connect(t, ctx, ts, &net.Dialer{Control: setReceiveBuffer(4 << 10)})
			defer conn.Close()
			ts.waitMetric(t, tt.conns, waitTimeout, equals(1))

			// Publish until the server gives the client up; the server's
			// send buffer grows to megabytes meanwhile (autotuning).
			data := fill(msgSize)
			published := 0
			deadline := time.Now().Add(waitTimeout)
			for {
				if ts.metrics(t)[tt.conns] == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the server did not cut the client off (%d messages published)", published)
				}
				if published >= 4096 {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				for range 64 {
					ts.publish(t, "big", "", data)
				}
				published += 64
			}
			// The client starts reading well after the cut.
			time.Sleep(3 * writeTimeout)
			m := ts.metrics(t)
			t.Logf("write errors %d, slow consumers %d, heartbeat timeouts %d", m["duet_write_errors_total"], m["duet_slow_consumer_disconnects_total"], m["duet_heartbeat_timeouts_total"])
			// A WebSocket ping stuck behind the data may time out too.
			assert.True(t, "cut off by the write deadline", m["duet_write_errors_total"] >= 1)

			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
			n, err := io.Copy(io.Discard, conn)
			took := time.Since(start)
			t.Logf("published %d messages of %d KiB; the client read %d KiB, then %v, in %v", published, msgSize>>10, n>>10, err, took)
			assert.True(t, "the client sees a reset, not a graceful end", errors.Is(err, syscall.ECONNRESET))
			assert.True(t, "the client reads only what its buffer held", n < readBound)
			assert.True(t, "the end comes promptly", took < endBound)
		})
	}
}

// connectSSE opens an SSE stream on channel big and reads its head and
// hello, then stops reading.
func connectSSE(t *testing.T, ctx context.Context, ts *testServer, d *net.Dialer) net.Conn {
	t.Helper()
	conn, resp, err := rawSSE(ctx, d, ts.addr(), "channel=big")
	assert.NoError(t, err)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		assert.NoError(t, err)
		if line == "\n" {
			break
		}
	}
	return conn
}

// connectWS opens a WebSocket subscribed to channel big and reads up to the
// subscribed reply, then stops reading.
func connectWS(t *testing.T, ctx context.Context, ts *testServer, d *net.Dialer) net.Conn {
	t.Helper()
	raw, err := dialRawWS(ctx, d, ts.addr())
	assert.NoError(t, err)
	assert.NoError(t, raw.writeFrame(opText, []byte(`{"type":"subscribe","ref":"r","channels":["big"]}`)))
	_ = raw.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		op, p, err := raw.readFrame(nil)
		assert.NoError(t, err)
		if op == opText && strings.Contains(string(p), `"type":"subscribed"`) {
			break
		}
	}
	_ = raw.conn.SetReadDeadline(time.Time{})
	return raw.conn
}
