package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared/assert"
)

// applyFlags parses args as bin/duet's authentication flags and applies
// them for a server listening on addr.
func applyFlags(t *testing.T, addr string, args ...string) (http.Handler, *server.Config, error) {
	t.Helper()
	cfg := &server.Config{}
	h, err := parseAuthFlags(t, args...).apply(cfg, addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return h, cfg, err
}

// parseAuthFlags parses args as bin/duet's authentication flags.
func parseAuthFlags(t *testing.T, args ...string) *authFlags {
	t.Helper()
	var f authFlags
	fs := flag.NewFlagSet("duet", flag.ContinueOnError)
	f.register(fs)
	assert.NoError(t, fs.Parse(args))
	return &f
}

const testSecret = "0123456789abcdef0123456789abcdef-secret"

// secretFile writes an HS256 secret and returns its path.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	assert.NoError(t, os.WriteFile(p, []byte(testSecret), 0o600))
	return p
}

// /dev/token hands a valid token to whoever asks: it must not be reachable
// from another machine unless the operator says so in as many words.
func TestDevTokensLoopbackOnly(t *testing.T) {
	secret := secretFile(t)
	devArgs := []string{"-jwt-hs256-secret-file", secret, "-jwt-aud", "a", "-dev-tokens", "1m"}

	t.Run("refused with a non-loopback -addr", func(t *testing.T) {
		for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080", "example.com:8080"} {
			_, _, err := applyFlags(t, addr, devArgs...)
			assert.True(t, addr+" refused", err != nil)
			assert.Contains(t, addr+" error", err.Error(), "-dev-tokens-public")
		}
		for _, addr := range []string{"localhost:8080", "127.0.0.1:0", "[::1]:0", "127.0.0.2:80"} {
			_, _, err := applyFlags(t, addr, devArgs...)
			assert.NoError(t, err)
		}
		_, _, err := applyFlags(t, ":8080", append(devArgs, "-dev-tokens-public")...)
		assert.NoError(t, err)
		_, _, err = applyFlags(t, "localhost:8080", "-jwt-jwks", "jwks.json", "-jwt-aud", "a", "-dev-tokens", "1m")
		assert.True(t, "-dev-tokens without an HS256 secret refused", err != nil && strings.Contains(err.Error(), "-jwt-hs256-secret-file"))
	})

	ask := func(h http.Handler, remote string, header http.Header) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/dev/token?sub=alice", nil)
		r.RemoteAddr = remote
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	t.Run("served to loopback clients only", func(t *testing.T) {
		h, cfg, err := applyFlags(t, "127.0.0.1:0", devArgs...)
		assert.NoError(t, err)
		for _, remote := range []string{"127.0.0.1:5555", "[::1]:5555"} {
			w := ask(h, remote, nil)
			assert.Equal(t, remote+" status", w.Code, http.StatusOK)
			r := httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
			r.Header.Set("Authorization", "Bearer "+w.Body.String())
			id, err := cfg.Authenticate(r)
			assert.NoError(t, err)
			assert.Equal(t, "subject", id.Subject, "alice")
		}
		for _, tt := range []struct {
			name, remote string
			header       http.Header
		}{
			{"another machine", "192.0.2.7:5555", nil},
			{"an IPv6 peer", "[2001:db8::7]:5555", nil},
			{"a loopback proxy forwarding another machine", "127.0.0.1:5555", http.Header{"X-Forwarded-For": {"192.0.2.7"}}},
			{"a loopback proxy saying Forwarded", "127.0.0.1:5555", http.Header{"Forwarded": {"for=192.0.2.7"}}},
		} {
			w := ask(h, tt.remote, tt.header)
			assert.Equal(t, tt.name+" status", w.Code, http.StatusForbidden)
			assert.True(t, tt.name+": no token in "+w.Body.String(), !strings.Contains(w.Body.String(), "eyJ"))
			assert.Contains(t, tt.name+" says why", w.Body.String(), "loopback")
		}
	})
	t.Run("a session cookie", func(t *testing.T) {
		h, cfg, err := applyFlags(t, "127.0.0.1:0", devArgs...)
		assert.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/dev/session?sub=alice", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		cookies := w.Result().Cookies()
		assert.Equal(t, "cookies", len(cookies), 1)
		c := cookies[0]
		assert.Equal(t, "name", c.Name, "__Host-duet_session")
		assert.True(t, "Secure, Path=/, no Domain", c.Secure && c.Path == "/" && c.Domain == "")
		r = httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
		r.AddCookie(c)
		id, err := cfg.Authenticate(r)
		assert.NoError(t, err)
		assert.Equal(t, "subject", id.Subject, "alice")
		r = httptest.NewRequest(http.MethodGet, "/dev/session?sub=alice", nil)
		r.RemoteAddr = "192.0.2.7:5555"
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, "from afar", w.Code, http.StatusForbidden)
	})
	t.Run("-dev-tokens-public serves everyone", func(t *testing.T) {
		h, _, err := applyFlags(t, ":0", append(devArgs, "-dev-tokens-public")...)
		assert.NoError(t, err)
		assert.Equal(t, "status", ask(h, "192.0.2.7:5555", nil).Code, http.StatusOK)
	})
}
