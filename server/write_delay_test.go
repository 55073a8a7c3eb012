package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestWriteDelay: with Config.WriteDelay a writer waits that long before
// writing, so that a burst of messages goes out in one write: on WebSocket
// one frame holds them all, and on both wires nothing arrives sooner than
// the delay after it was published.
func TestWriteDelay(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.WriteDelay = 300 * time.Millisecond
	ts := newTestServer(t, cfg, MemoryConfig{})

	s := ts.openSSE(t, sseQuery("", "b"), nil)
	conn, _, err := ts.dialWS(t, nil)
	assert.NoError(t, err)
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, hello, err := conn.Read(ctx)
	assert.NoError(t, err)
	assert.Contains(t, "first frame", string(hello), `"type":"hello"`)
	sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{"b"}}
	assert.NoError(t, conn.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)))
	_, p, err := conn.Read(ctx)
	assert.NoError(t, err)
	assert.Contains(t, "subscribed", string(p), `"type":"subscribed"`)

	start := time.Now()
	ids := make([]string, 10)
	for i := range ids {
		id, err := ts.hub.Publish(ctx, "b", "", []byte(`{"n":1}`))
		assert.NoError(t, err)
		ids[i] = id.String()
	}
	_, p, err = conn.Read(ctx)
	assert.NoError(t, err)
	wsAfter := time.Since(start)
	lines := bytes.Split(p, []byte("\n"))
	assert.Equal(t, "messages in the one WebSocket frame", len(lines), len(ids))
	for i, line := range lines {
		f, err := shared.DecodeFrame(line)
		assert.NoError(t, err)
		assert.Equal(t, "id", f.ID, ids[i])
	}
	s.expectIDs(ids...)
	sseAfter := time.Since(start)
	t.Logf("first write after %v (WebSocket), all read after %v (SSE)", wsAfter, sseAfter)
	assert.True(t, "the WebSocket writer waited WriteDelay", wsAfter >= cfg.WriteDelay)
	assert.True(t, "the SSE writer waited WriteDelay", sseAfter >= cfg.WriteDelay)
}

// TestWriteDelayLimits: a WriteDelay past 1s, past WriteTimeout or
// negative is refused.
func TestWriteDelayLimits(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{-time.Millisecond, 2 * time.Second, 10 * time.Second} {
		_, err := NewHub(&Config{WriteDelay: d, Broker: nil, Logger: quietLogger()})
		assert.True(t, "WriteDelay "+d.String()+" refused", err != nil)
	}
	h, err := NewHub(&Config{WriteDelay: 2 * time.Millisecond, Logger: quietLogger()})
	assert.NoError(t, err)
	assert.NoError(t, h.Shutdown(context.Background()))
}
