package server

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestBatchedWrites: what is queued for a connection when its writer wakes
// goes out together — on WebSocket as one frame of '\n'-separated protocol
// frames — and a batch past MaxBatchBytes is split into bounded writes that
// still deliver every message in order, on both wires.
func TestBatchedWrites(t *testing.T) {
	t.Run("one replay, one WebSocket frame", func(t *testing.T) {
		ts := newTestServer(t, testConfig(), MemoryConfig{})
		ids := publishN(t, ts, "b", 10)
		conn, _, err := ts.dialWS(t, nil)
		assert.NoError(t, err)
		defer conn.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, hello, err := conn.Read(ctx)
		assert.NoError(t, err)
		assert.Contains(t, "first frame", string(hello), `"type":"hello"`)
		sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{"b"}, LastEventID: ids[0]}
		assert.NoError(t, conn.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)))

		_, p, err := conn.Read(ctx)
		assert.NoError(t, err)
		lines := bytes.Split(p, []byte("\n"))
		assert.Equal(t, "protocol frames in the WebSocket frame", len(lines), 1+9)
		first, err := shared.DecodeFrame(lines[0])
		assert.NoError(t, err)
		assert.Equal(t, "first", first.Type, shared.TypeSubscribed)
		for i, line := range lines[1:] {
			f, err := shared.DecodeFrame(line)
			assert.NoError(t, err)
			assert.Equal(t, "replayed id", f.ID, ids[i+1])
		}
	})

	cfg := testConfig()
	cfg.MaxBatchBytes = 300 // about two messages
	t.Run("split WebSocket batch", func(t *testing.T) {
		ts := newTestServer(t, cfg, MemoryConfig{})
		ids := publishN(t, ts, "b", 10)
		conn, _, err := ts.dialWS(t, nil)
		assert.NoError(t, err)
		defer conn.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, _, err = conn.Read(ctx) // hello
		assert.NoError(t, err)
		sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{"b"}, LastEventID: ids[0]}
		assert.NoError(t, conn.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)))

		var got []string
		frames := 0
		for len(got) < 9 {
			_, p, err := conn.Read(ctx)
			assert.NoError(t, err)
			frames++
			lines := bytes.Split(p, []byte("\n"))
			assert.True(t, "frame within MaxBatchBytes (or a single protocol frame)", len(p) <= cfg.MaxBatchBytes || len(lines) == 1)
			for _, line := range lines {
				f, err := shared.DecodeFrame(line)
				assert.NoError(t, err)
				if f.Type == shared.TypeMessage {
					got = append(got, f.ID)
				}
			}
		}
		assert.True(t, "the replay took several WebSocket frames", frames > 1)
		assert.Equal(t, "replayed ids", strings.Join(got, " "), strings.Join(ids[1:], " "))
	})
	t.Run("split SSE batch", func(t *testing.T) {
		var writes writeLog
		ts := newTestServerOn(t, cfg, MemoryConfig{}, writes.listener)
		ids := publishN(t, ts, "b", 10)
		c := ts.openSSE(t, "channel=b&lastEventId="+ids[0], nil)
		defer c.close()
		c.expectIDs(ids[1:]...)
		// The replay went out in several writes, each within MaxBatchBytes
		// (plus one event: a write ends at the event that passes it).
		sizes := writes.withMessages()
		assert.True(t, "the replay took several writes", len(sizes) > 1)
		for _, n := range sizes {
			assert.True(t, "a write within MaxBatchBytes", n <= cfg.MaxBatchBytes+200)
		}
	})
}

// writeLog records the size of every server write that carries an SSE
// message event, on the connections of the listener it wraps.
type writeLog struct {
	mu    sync.Mutex
	sizes []int
}

func (wl *writeLog) listener(l net.Listener) net.Listener { return loggedListener{l, wl} }

func (wl *writeLog) withMessages() []int {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return slices.Clone(wl.sizes)
}

type loggedListener struct {
	net.Listener
	log *writeLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l.log}, nil
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("event: message")) || bytes.Contains(p, []byte("\ndata: ")) && bytes.Contains(p, []byte("\nid: ")) {
		c.log.mu.Lock()
		c.log.sizes = append(c.log.sizes, len(p))
		c.log.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func publishN(t *testing.T, ts *testServer, channel string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ts.publish(t, channel, "", `{"n":1}`)
	}
	return ids
}
