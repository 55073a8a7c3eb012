package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
)

// TestGoroutinesPerIdleConnection holds the README's "one goroutine per
// idle connection" (measured by BenchmarkIdleConnections, which CI does not
// run): n idle SSE streams, then n idle WebSockets, each add at most one
// goroutine per connection to the server (plus a few shared ones). The
// clients are raw sockets in this process that hold no goroutine of their
// own. Not parallel: it counts the process's goroutines.
func TestGoroutinesPerIdleConnection(t *testing.T) {
	const n, slack = 40, 4
	ts := newTestServer(t, Config{Logger: quietLogger()}, MemoryConfig{})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, wire := range []string{"sse", "ws"} {
		before := settledGoroutines()
		for i := range n {
			c := idleClient(t, ts.addr(), wire, fmt.Sprintf("idle-%s-%d", wire, i))
			conns = append(conns, c)
		}
		after := settledGoroutines()
		if grew := after - before; grew > n+slack {
			t.Errorf("%d idle %s connections: %d more goroutines (%d → %d), want at most one each (+%d)", n, wire, grew, before, after, slack)
		} else {
			t.Logf("%d idle %s connections: %d more goroutines", n, wire, grew)
		}
	}
}

// settledGoroutines returns the goroutine count once it has held still
// for a moment (connections finishing their setup, timers firing).
func settledGoroutines() int {
	last := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		now := runtime.NumGoroutine()
		if now == last {
			return now
		}
		last = now
	}
	return last
}

// idleClient opens one connection on wire subscribed to channel, reads
// until the server's hello, and returns the socket, left unread.
func idleClient(t *testing.T, addr, wire, channel string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if wire == "sse" {
		fmt.Fprintf(c, "GET /rt/sse?channel=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", channel, addr)
	} else {
		var key [16]byte
		_, _ = rand.Read(key[:])
		fmt.Fprintf(c, "GET /rt/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
			addr, base64.StdEncoding.EncodeToString(key[:]), shared.Protocol)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(c)
	var got bytes.Buffer
	for !strings.Contains(got.String(), `"type":"hello"`) {
		b, err := br.ReadByte()
		if err != nil {
			c.Close()
			t.Fatalf("%s client: no hello: %v; read %q", wire, err, got.String())
		}
		got.WriteByte(b)
	}
	if wire == "ws" {
		// Subscribe, so the connection is not closed as idle (4004).
		sub := []byte(`{"type":"subscribe","channels":["` + channel + `"]}`)
		var mask [4]byte
		frame := append([]byte{0x81, 0x80 | byte(len(sub))}, mask[:]...) // zero mask: payload as is
		if _, err := c.Write(append(frame, sub...)); err != nil {
			t.Fatal(err)
		}
		for !strings.Contains(got.String(), `"type":"subscribed"`) {
			b, err := br.ReadByte()
			if err != nil {
				c.Close()
				t.Fatalf("ws client: not subscribed: %v", err)
			}
			got.WriteByte(b)
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}
