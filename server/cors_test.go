package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// An origin is a scheme, a host and a port: a WebSocket handshake is
// admitted only when all three match this server's own origin or an
// allowed one. A page of http://app.example (which anyone on the path can
// forge) must not borrow the trust given to https://app.example.
func TestWebSocketOriginComparesSchemeHostPort(t *testing.T) {
	cfg := testConfig()
	cfg.CORSOrigins = []string{"https://app.example"}
	cfg.OriginPatterns = []string{"*.example.com", "http://localhost:*"}
	ts := newTestServer(t, cfg, MemoryConfig{})
	self := strings.TrimPrefix(ts.url, "http://") // 127.0.0.1:port

	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"no Origin (not a browser)", nil, true},
		{"the allowed origin", http.Header{"Origin": {"https://app.example"}}, true},
		{"the allowed origin, upper case", http.Header{"Origin": {"HTTPS://APP.example"}}, true},
		{"the allowed origin with its default port", http.Header{"Origin": {"https://app.example:443"}}, true},
		{"the allowed host over plain http", http.Header{"Origin": {"http://app.example"}}, false},
		{"the allowed host on another port", http.Header{"Origin": {"https://app.example:8443"}}, false},
		{"the allowed host over ws", http.Header{"Origin": {"ws://app.example"}}, false},
		{"a host pattern admits https", http.Header{"Origin": {"https://a.example.com"}}, true},
		{"a host pattern does not admit http", http.Header{"Origin": {"http://a.example.com"}}, false},
		{"a pattern with a scheme admits it", http.Header{"Origin": {"http://localhost:3000"}}, true},
		{"a pattern with a scheme admits only it", http.Header{"Origin": {"https://localhost:3000"}}, false},
		{"this server's own origin", http.Header{"Origin": {ts.url}}, true},
		{"this server's host and port over https", http.Header{"Origin": {"https://" + self}}, false},
		{"this server's host on another port", http.Header{"Origin": {"http://127.0.0.1:1"}}, false},
		{"the browser says same-origin", http.Header{"Origin": {ts.url}, "Sec-Fetch-Site": {"same-origin"}}, true},
		{"the browser says same-site", http.Header{"Origin": {ts.url}, "Sec-Fetch-Site": {"same-site"}}, false},
		{"the browser says cross-site, allowed origin", http.Header{"Origin": {"https://app.example"}, "Sec-Fetch-Site": {"cross-site"}}, true},
		{"an opaque origin", http.Header{"Origin": {"null"}}, false},
		{"not an origin", http.Header{"Origin": {"https://app.example/path"}}, false},
		{"forwarded proto from an untrusted peer", http.Header{"Origin": {"https://" + self}, "X-Forwarded-Proto": {"https"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: tt.header})
			if tt.ok {
				assert.NoError(t, err)
				newWSClient(t, conn).expect(shared.TypeHello)
				return
			}
			assert.True(t, "handshake refused", err != nil && resp != nil)
			assert.Equal(t, "status", resp.StatusCode, http.StatusForbidden)
		})
	}

	t.Run("behind a trusted proxy, its X-Forwarded-Proto is the scheme", func(t *testing.T) {
		cfg := testConfig()
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		ts := newTestServer(t, cfg, MemoryConfig{})
		self := strings.TrimPrefix(ts.url, "http://")
		h := http.Header{"Origin": {"https://" + self}, "X-Forwarded-Proto": {"https"}}
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: h})
		assert.NoError(t, err)
		newWSClient(t, conn).expect(shared.TypeHello)
		h = http.Header{"Origin": {ts.url}, "X-Forwarded-Proto": {"https"}}
		_, resp, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: h})
		assert.True(t, "plain-http origin behind an https proxy refused", err != nil && resp != nil && resp.StatusCode == http.StatusForbidden)
	})

	t.Run("a bad pattern is refused at NewHub", func(t *testing.T) {
		_, err := NewHub(&Config{OriginPatterns: []string{"[a-"}})
		assert.True(t, "refused", err != nil && strings.Contains(err.Error(), "OriginPatterns"))
	})
}

// FuzzWebSocketOrigin: the Origin, Sec-Fetch-Site and X-Forwarded-Proto
// headers come from the network. None may panic the check, and a handshake
// it admits is one a rule admits: no Origin, the browser's same-origin,
// the request's own origin (scheme included), or an allowed one.
func FuzzWebSocketOrigin(f *testing.F) {
	f.Add("https://app.example", "", "")
	f.Add("http://app.example", "cross-site", "")
	f.Add("https://127.0.0.1:8080", "", "https")
	f.Add("HTTPS://A.EXAMPLE.COM:443", "same-site", "http")
	f.Add("null", "", "")
	f.Add("http://[::1]:80/", "", "https, http")
	g, err := newOriginPolicy(&Config{
		CORSOrigins:    []string{"https://app.example"},
		OriginPatterns: []string{"*.example.com", "http://localhost:*"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin, site, proto string) {
		for _, peer := range []string{"10.1.2.3:5555", "192.0.2.1:5555"} {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/rt/ws", nil)
			r.RemoteAddr = peer
			r.Header.Set("Origin", origin)
			r.Header.Set("Sec-Fetch-Site", site)
			r.Header.Set("X-Forwarded-Proto", proto)
			if g.checkWebSocket(r) != nil || origin == "" || site == "same-origin" {
				continue
			}
			canon, ok := canonicalOrigin(origin)
			if !ok {
				t.Fatalf("admitted Origin %q, which is not an origin", origin)
			}
			if canon == "http://app.example" || canon == "http://a.example.com" {
				t.Fatalf("admitted %q over plain http (Sec-Fetch-Site %q)", origin, site)
			}
			_, listed := g.wsOrigins[canon]
			matched := false
			for _, p := range g.wsPatterns {
				if ok, _ := path.Match(p, canon); ok {
					matched = true
				}
			}
			if !listed && !matched && (site != "" || canon != g.requestOrigin(r)) {
				t.Fatalf("admitted %q (Sec-Fetch-Site %q, X-Forwarded-Proto %q, peer %s) by no rule", origin, site, proto, peer)
			}
		}
	})
}
