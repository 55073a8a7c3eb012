package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestConnectionLimits: past the per-address and the total limit, SSE
// requests and WebSocket upgrades are refused with 429/4429 and 503/4503
// before anything streams, and a freed slot is usable again.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.MaxConnectionsPerIP = 2
		ts := newTestServer(t, cfg, MemoryConfig{})
		first := ts.openSSE(t, "channel=a", nil)
		ts.openWS(t)
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
		assert.Equal(t, "SSE status", resp.StatusCode, http.StatusTooManyRequests)
		assert.Equal(t, "SSE code", errorBody(t, body), shared.CodeRateLimited)
		assert.True(t, "Retry-After", resp.Header.Get("Retry-After") != "")
		_, wresp, err := ts.dialWS(t, nil)
		assert.True(t, "WebSocket refused", err != nil && wresp != nil)
		assert.Equal(t, "WS status", wresp.StatusCode, http.StatusTooManyRequests)

		first.close()
		ts.waitMetric(t, `duet_connections{wire="sse"}`, waitTimeout, equals(0))
		ts.openSSE(t, "channel=a", nil)
	})
	t.Run("total", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.MaxConnections = 1
		ts := newTestServer(t, cfg, MemoryConfig{})
		ts.openWS(t)
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
		assert.Equal(t, "SSE status", resp.StatusCode, http.StatusServiceUnavailable)
		assert.Equal(t, "SSE code", errorBody(t, body), shared.CodeOverloaded)
	})
}

// TestClientIP: X-Forwarded-For counts only when the peer is a trusted
// proxy, and then the rightmost untrusted hop is the client.
func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxy configured", "192.0.2.1:5000", []string{"198.51.100.7"}, nil, "192.0.2.1"},
		{"untrusted peer", "192.0.2.1:5000", []string{"198.51.100.7"}, proxies, "192.0.2.1"},
		{"trusted peer", "10.1.2.3:5000", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"forged left entries", "10.1.2.3:5000", []string{"203.0.113.9, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"chain of proxies", "10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9", "10.5.5.5"}, proxies, "198.51.100.7"},
		{"garbage hop", "10.1.2.3:5000", []string{"198.51.100.7, nonsense"}, proxies, "10.1.2.3"},
		{"no header", "[::1]:5000", nil, proxies, "::1"},
		{"mapped v4", "[::ffff:192.0.2.1]:5000", nil, nil, "192.0.2.1"},
		{"unparsable peer", "@sock", nil, nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newConnLimiter(&Config{TrustedProxies: tt.trusted})
			r := httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, "client IP", l.clientIP(r).String(), tt.want)
		})
	}
}

// TestIdleWebSocket: a WebSocket that subscribes to nothing and sends
// nothing is closed with 4004; one that subscribes is kept past the limit.
func TestIdleWebSocket(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	ts := newTestServer(t, cfg, MemoryConfig{})
	idle := ts.openWS(t)
	busy := ts.openWS(t)
	busy.subscribe("s", "", "a")
	code, _ := idle.closeStatus(waitTimeout)
	assert.Equal(t, "idle close code", code, websocket.StatusCode(shared.CodeIdle))
	// Three idle periods later the subscribed one still answers.
	time.Sleep(3 * cfg.IdleTimeout)
	busy.send(`{"type":"ping","ref":"alive"}`)
	assert.Equal(t, "pong", busy.expect("pong").Ref, "alive")
}

// TestSlowRequests: NewHTTPServer closes a connection whose headers trickle
// in past ReadHeaderTimeout, and the publish handler one whose body
// trickles in past BodyTimeout, while an SSE stream on the same server
// outlives both (no server-wide read or write timeout).
func TestSlowRequests(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyTimeout = 300 * time.Millisecond
	cfg.Broker = NewMemoryBroker(&MemoryConfig{Epoch: testEpoch})
	t.Cleanup(func() { _ = cfg.Broker.Close() })
	h, err := NewHub(&cfg)
	assert.NoError(t, err)
	srv := httptest.NewUnstartedServer(h.Handler())
	hs := NewHTTPServer(h.Handler(), quietLogger())
	hs.ReadHeaderTimeout = 300 * time.Millisecond
	srv.Config = hs
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		assert.NoError(t, h.Shutdown(ctx))
		srv.Close()
	})
	ts := &testServer{hub: h, srv: srv, url: srv.URL}
	stream := ts.openSSE(t, "channel=a", nil)

	// closedWithin writes prefix, then one more byte every 50 ms, and
	// reports how long the server took to close the connection.
	closedWithin := func(prefix string) time.Duration {
		c, err := net.Dial("tcp", ts.addr())
		assert.NoError(t, err)
		defer c.Close()
		start := time.Now()
		_, _ = c.Write([]byte(prefix))
		buf := make([]byte, 4096)
		for time.Since(start) < waitTimeout {
			if _, err := c.Write([]byte("a")); err != nil {
				return time.Since(start)
			}
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					return time.Since(start)
				}
			}
		}
		t.Fatalf("a trickled request (%q…) was still open after %v", prefix, waitTimeout)
		return 0
	}
	// Each is cut by its timeout (300 ms): not before it, and not long
	// after (3 s: ten times over, for a loaded machine under -race).
	within := func(what string, took time.Duration) {
		t.Logf("%s closed after %v", what, took)
		if took < 250*time.Millisecond || took > 3*time.Second {
			t.Errorf("%s closed after %v, want the 300 ms timeout (asserted within [250ms, 3s])", what, took)
		}
	}
	within("slow headers", closedWithin("GET /rt/healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "))
	within("slow body", closedWithin("POST /rt/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"channel\":\"a\",\"data\":\""))

	id := ts.publish(t, "a", "", "1")
	stream.expectIDs(id)
}

// TestHeaderLimit: NewHTTPServer refuses request headers past
// DefaultMaxHeaderBytes (64 KiB; net/http allows 4 KiB of slack) with
// 431, and serves headers just under it.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config = NewHTTPServer(srv.Config.Handler, quietLogger())
	srv.Start()
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		size int
		want int
	}{{60 << 10, http.StatusOK}, {DefaultMaxHeaderBytes + 8<<10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, err := http.NewRequest("GET", srv.URL, nil)
		assert.NoError(t, err)
		req.Header.Set("X-Big", strings.Repeat("a", tt.size))
		resp, err := srv.Client().Do(req)
		assert.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("a %d KiB header: status %d, want %d", tt.size>>10, resp.StatusCode, tt.want)
		}
	}
}
