package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// kicker is a middleware that observes each connection (WithConnObserver),
// so a test can end the live ones with a cause of its choice.
type kicker struct {
	next http.Handler
	mu   sync.Mutex // guards ends
	ends map[int]func(error)
	n    int
}

func (k *kicker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := WithConnObserver(r.Context(), func(end func(error)) func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.ends == nil {
			k.ends = make(map[int]func(error))
		}
		k.n++
		i := k.n
		k.ends[i] = end
		return func() {
			k.mu.Lock()
			delete(k.ends, i)
			k.mu.Unlock()
		}
	})
	k.next.ServeHTTP(w, r.WithContext(ctx))
}

// kick ends every live connection with cause and returns how many.
func (k *kicker) kick(cause error) int {
	k.mu.Lock()
	ends := make([]func(error), 0, len(k.ends))
	for _, end := range k.ends {
		ends = append(ends, end)
	}
	k.mu.Unlock()
	for _, end := range ends {
		end(cause)
	}
	return len(ends)
}

// serveKicked serves a hub behind a kicker.
func serveKicked(t *testing.T) (*testServer, *kicker) {
	t.Helper()
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch})
	t.Cleanup(func() { _ = b.Close() })
	cfg := testConfig()
	cfg.Broker = b
	h, err := NewHub(&cfg)
	assert.NoError(t, err)
	k := &kicker{next: h.Handler()}
	srv := httptest.NewServer(k)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	return &testServer{hub: h, broker: b, srv: srv, url: srv.URL}, k
}

func TestErrReconnect(t *testing.T) {
	t.Parallel()
	ts, k := serveKicked(t)
	sse := ts.openSSE(t, "channel=a", nil)
	ws := ts.openWS(t)
	ws.subscribe("s", "", "a")
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(1))

	assert.Equal(t, "connections ended", k.kick(ErrReconnect), 2)

	rest := sse.end(waitTimeout)
	assert.True(t, "SSE got a close event", len(rest) > 0)
	last := rest[len(rest)-1]
	assert.Equal(t, "SSE last event", last.Type, sseCloseEvent)
	f, err := shared.DecodeFrame([]byte(last.Data))
	assert.NoError(t, err)
	assert.Equal(t, "SSE close code", f.Code, shared.CodeShutdown)
	assert.Equal(t, "action", f.Code.Action(), shared.ActionReconnect)

	code, _ := ws.closeStatus(waitTimeout)
	assert.Equal(t, "WS close code", code, websocket.StatusCode(shared.CodeShutdown))

	// The hub itself goes on serving.
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(0))
	again := ts.openSSE(t, "channel=a", nil)
	again.close()
}

// TestPlainCancelDrops: ended with another cause, a connection ends with no
// close event or frame, as a dropped network would.
func TestPlainCancelDrops(t *testing.T) {
	t.Parallel()
	ts, k := serveKicked(t)
	sse := ts.openSSE(t, "channel=a", nil)
	ws := ts.openWS(t)
	ts.waitMetric(t, wsConnsMetric, waitTimeout, equals(1))

	assert.Equal(t, "connections ended", k.kick(errors.New("dropped")), 2)

	for _, ev := range sse.end(waitTimeout) {
		if ev.Type == sseCloseEvent {
			t.Fatalf("SSE got a close event on a plain cancel: %s", ev.Data)
		}
	}
	code, _ := ws.closeStatus(waitTimeout)
	assert.Equal(t, "WS close code (no close frame)", code, websocket.StatusCode(-1))
}
