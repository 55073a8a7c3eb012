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

// TestWriteDelay: with Config.WriteDelay a connection's writes are spaced
// that far apart, so that messages published 20 ms apart (each would go
// out alone) go out together: on WebSocket one frame holds them all.
func TestWriteDelay(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.WriteTimeout = 2 * time.Second
	cfg.WriteDelay = time.Second
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
		time.Sleep(20 * time.Millisecond)
	}
	_, p, err = conn.Read(ctx)
	assert.NoError(t, err)
	wsAfter := time.Since(start)
	var got []string
	for _, line := range bytes.Split(p, []byte("\n")) {
		f, err := shared.DecodeFrame(line)
		assert.NoError(t, err)
		if f.Type == shared.TypeMessage { // a heartbeat ping may ride along
			got = append(got, f.ID)
		}
	}
	assert.Equal(t, "messages in the one WebSocket frame", got, ids)
	s.expectIDs(ids...)
	sseAfter := time.Since(start)
	t.Logf("messages in one frame after %v (WebSocket), all read after %v (SSE)", wsAfter, sseAfter)
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
