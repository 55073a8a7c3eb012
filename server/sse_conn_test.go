package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// plainWriter hides every optional interface of the ResponseWriter it wraps
// but Flush, as some middleware does: the SSE stream then cannot be hijacked
// and stays in the handler.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }
func (p plainWriter) Flush()                      { http.NewResponseController(p.w).Flush() }

// TestSSEBothPaths: an HTTP/1.1 stream is hijacked, one behind a writer
// that cannot hijack is served from the handler; both keep the headers set
// before the hub (CORS middleware, say), resume, deliver and end with the
// shutdown event and a clean end of the body.
func TestSSEBothPaths(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		wrap   func(http.ResponseWriter) http.ResponseWriter
		hijack bool // whether the server must see the connection hijacked
	}{
		{"hijacked", func(w http.ResponseWriter) http.ResponseWriter { return w }, true},
		{"in handler", func(w http.ResponseWriter) http.ResponseWriter { return plainWriter{w} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch})
			t.Cleanup(func() { _ = b.Close() })
			cfg.Broker = b
			h, err := NewHub(&cfg)
			assert.NoError(t, err)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				h.SSEHandler().ServeHTTP(tt.wrap(w), r)
			}))
			var hijacked atomic.Int32 // connections net/http saw hijacked
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateHijacked {
					hijacked.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			ts := &testServer{hub: h, broker: b, srv: srv, url: srv.URL}
			shutdown := func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				assert.NoError(t, h.Shutdown(ctx))
			}
			t.Cleanup(shutdown) // on failure; a second Shutdown is harmless

			first := ts.publish(t, "c", "", `1`)
			c := ts.openSSE(t, "channel=c&lastEventId="+first, nil)
			assert.Equal(t, "middleware header", c.resp.Header.Get("Access-Control-Allow-Origin"), "*")
			assert.Equal(t, "Cache-Control", c.resp.Header.Get("Cache-Control"), "no-store")
			second := ts.publish(t, "c", "", `2`)
			c.expectIDs(second)
			ts.publish(t, "c", "", `3`)
			c.expectIDs(idOf(3))
			assert.Equal(t, "stream hijacked from net/http", hijacked.Load() > 0, tt.hijack)

			shutdown()
			rest := c.end(waitTimeout)
			assert.True(t, "stream ended with events", len(rest) > 0)
			last := rest[len(rest)-1]
			assert.Equal(t, "last event", last.Type, sseCloseEvent)
			f, err := shared.DecodeFrame([]byte(last.Data))
			assert.NoError(t, err)
			assert.Equal(t, "close code", f.Code, shared.CodeShutdown)
			assert.True(t, "stream ended cleanly: "+errString(c.err), c.err == nil)
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
