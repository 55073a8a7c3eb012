package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestAddrGroup: IPv4 addresses count one by one, IPv6 ones by their
// configured prefix.
func TestAddrGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ip string
		bits     int
		want     string
	}{
		{"ipv4 alone", "192.0.2.7", 64, "192.0.2.7/32"},
		{"ipv6 by /64", "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"ipv6 by /48", "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"ipv6 alone", "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"loopback", "::1", 64, "::/64"},
		{"invalid", "", 64, "invalid Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			assert.Equal(t, "group", addrGroup(ip, tt.bits).String(), tt.want)
		})
	}
	// Zero defaults to /64; more than 128 means 128.
	assert.Equal(t, "default", (&Config{}).withDefaults().IPv6Prefix, 64)
	assert.Equal(t, "capped", (&Config{IPv6Prefix: 200}).withDefaults().IPv6Prefix, 128)
}

// TestIPv6PrefixLimits: clients of one IPv6 /64 share the per-address
// connection limit and the anonymous publish budget, while another /64 has
// its own; Config.IPv6Prefix 128 counts each address apart. The addresses
// reach the server as X-Forwarded-For from a trusted proxy, the only way to
// speak from several IPv6 addresses over loopback.
func TestIPv6PrefixLimits(t *testing.T) {
	t.Parallel()
	// open opens an SSE stream as client and returns the status, and the
	// body of a refusal.
	openBody := func(t *testing.T, ts *testServer, client string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=a", nil)
		assert.NoError(t, err)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := ts.srv.Client().Do(req)
		assert.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		return resp.StatusCode, ""
	}
	open := func(t *testing.T, ts *testServer, client string) int {
		t.Helper()
		status, _ := openBody(t, ts, client)
		return status
	}
	publish := func(t *testing.T, ts *testServer, client string) int {
		t.Helper()
		resp, _ := ts.do(t, http.MethodPost, "/rt/publish", http.Header{
			"Content-Type":    {"application/json"},
			"X-Forwarded-For": {client},
		}, `{"channel":"a","data":1}`)
		return resp.StatusCode
	}
	newServer := func(t *testing.T, bits int) *testServer {
		cfg := testConfig()
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		cfg.MaxConnectionsPerIP = 2
		cfg.IdentityPublishRate, cfg.IdentityPublishBurst = 0.001, 2
		cfg.IPv6Prefix = bits
		return newTestServer(t, cfg, MemoryConfig{})
	}
	t.Run("grouped by /64", func(t *testing.T) {
		t.Parallel()
		ts := newServer(t, 0)
		assert.Equal(t, "first of the /64", open(t, ts, "2001:db8::1"), http.StatusOK)
		assert.Equal(t, "second of the /64", open(t, ts, "2001:db8::2"), http.StatusOK)
		status, body := openBody(t, ts, "2001:db8::ffff:3")
		assert.Equal(t, "third of the /64", status, http.StatusTooManyRequests)
		assert.True(t, "the refusal names the prefix: "+body, strings.Contains(body, "2001:db8::/64"))
		assert.Equal(t, "another /64", open(t, ts, "2001:db8:0:1::1"), http.StatusOK)

		assert.Equal(t, "publish 1", publish(t, ts, "2001:db8::1"), http.StatusOK)
		assert.Equal(t, "publish 2", publish(t, ts, "2001:db8::2"), http.StatusOK)
		assert.Equal(t, "publish 3, same /64", publish(t, ts, "2001:db8::3"), http.StatusTooManyRequests)
		assert.Equal(t, "publish from another /64", publish(t, ts, "2001:db8:0:1::1"), http.StatusOK)
	})
	t.Run("each address apart", func(t *testing.T) {
		t.Parallel()
		ts := newServer(t, 128)
		for _, client := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"} {
			assert.Equal(t, client, open(t, ts, client), http.StatusOK)
		}
	})
}

// TestIPv6Loopback: over a real IPv6 socket ([::1]) the per-address limit
// counts the client's /64.
func TestIPv6Loopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	cfg := testConfig()
	cfg.MaxConnectionsPerIP = 1
	ts := newTestServerOn(t, cfg, MemoryConfig{}, func(l net.Listener) net.Listener { l.Close(); return ln })
	ts.openSSE(t, "channel=a", nil)
	resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
	assert.Equal(t, "second from [::1]", resp.StatusCode, http.StatusTooManyRequests)
	assert.Equal(t, "code", errorBody(t, body), shared.CodeRateLimited)
	assert.True(t, "the refusal names ::/64: "+string(body), strings.Contains(string(body), "::/64"))
}
