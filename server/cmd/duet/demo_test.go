package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(runBinaryEnv) == "1" { // startBinary's child: be bin/duet
		main()
		return
	}
	// Pebble's validation authority (autocert_test.go) reads its queue
	// until the process ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
}

// TestDemoHubHistory: History reads a channel's retained messages through
// the broker, and the id it gives resumes with nothing missed or repeated.
func TestDemoHubHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	broker := server.NewMemoryBroker(&server.MemoryConfig{HistorySize: 5})
	defer broker.Close()
	hub, err := server.NewHub(&server.Config{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	h := demoHub{hub}

	msgs, after, err := h.History(ctx, "room", 3)
	if err != nil || len(msgs) != 0 || after != broker.Head().String() {
		t.Fatalf("empty channel: %v %q %v; want none after the head %s", msgs, after, err, broker.Head())
	}

	var ids []string
	for i := range 7 {
		id, err := h.Publish(ctx, "room", "chat", fmt.Appendf(nil, `{"n":%d}`, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if _, err := h.Publish(ctx, "elsewhere", "chat", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, after, err = h.History(ctx, "room", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want the newest 3", len(msgs))
	}
	for i, m := range msgs {
		if m.ID != ids[4+i] || m.Event != "chat" || string(m.Data) != fmt.Sprintf(`{"n":%d}`, 4+i) {
			t.Fatalf("message %d: %+v, want id %s", i, m, ids[4+i])
		}
	}
	if after != ids[6] {
		t.Fatalf("resume after %s, want the last message of the channel %s", after, ids[6])
	}
	// Nothing the demo hub started is left behind (goleak checks).
	if err := hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// serveSite serves bin/duet's whole handler with these authentication
// flags, and -demo when withDemo.
func serveSite(t *testing.T, withDemo bool, args ...string) *httptest.Server {
	t.Helper()
	cfg := &server.Config{Logger: slog.New(slog.DiscardHandler)}
	devTokens, err := parseAuthFlags(t, args...).apply(cfg, "127.0.0.1:0", cfg.Logger)
	assert.NoError(t, err)
	hub, err := server.NewHub(cfg)
	assert.NoError(t, err)
	h, _, err := site(hub, cfg.Authenticate != nil, withDemo, devTokens, cfg.Logger)
	assert.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	return srv
}

// request sends method path (a JSON body for POST) with tok as a bearer
// token (none when empty) and returns the status.
func request(t *testing.T, srv *httptest.Server, method, path, tok string) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"room":"lobby","nick":"n","text":"t"}`))
	assert.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	assert.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// With JWT authentication on, the demo — whose endpoints publish and read
// history through the Go API — is off unless -demo, and with -demo it goes
// through the hub's own checks.
func TestDemoUnderAuth(t *testing.T) {
	authArgs := []string{"-jwt-hs256-secret-file", secretFile(t), "-jwt-aud", "a"}

	t.Run("off by default", func(t *testing.T) {
		srv := serveSite(t, false, authArgs...)
		for _, p := range []string{"POST /demo/chat/send", "POST /demo/notify/push", "GET /chat", "GET /notifications"} {
			method, path, _ := strings.Cut(p, " ")
			assert.Equal(t, p, request(t, srv, method, path, ""), http.StatusNotFound)
		}
		assert.Equal(t, "the browser client is still served", request(t, srv, http.MethodGet, "/duet.js", ""), http.StatusOK)
	})
	t.Run("-demo: the same checks as /rt/", func(t *testing.T) {
		srv := serveSite(t, true, authArgs...)
		bare := hsToken(t, jwt.MapClaims{"sub": "alice"})
		chat := hsToken(t, jwt.MapClaims{"sub": "alice", "subscribe": "chat:*", "publish": "chat:*"})
		assert.Equal(t, "send without a token", request(t, srv, http.MethodPost, "/demo/chat/send", ""), http.StatusUnauthorized)
		assert.Equal(t, "send without rights", request(t, srv, http.MethodPost, "/demo/chat/send", bare), http.StatusForbidden)
		assert.Equal(t, "send with rights", request(t, srv, http.MethodPost, "/demo/chat/send", chat), http.StatusOK)
		assert.Equal(t, "history without a token", request(t, srv, http.MethodGet, "/chat", ""), http.StatusUnauthorized)
		assert.Equal(t, "history with rights", request(t, srv, http.MethodGet, "/chat", chat), http.StatusOK)
		assert.Equal(t, "notifications of someone", request(t, srv, http.MethodGet, "/notifications", chat), http.StatusForbidden)
		assert.Equal(t, "push without rights", request(t, srv, http.MethodPost, "/demo/notify/push", chat), http.StatusForbidden)
	})
	t.Run("no authentication: the demo as ever", func(t *testing.T) {
		srv := serveSite(t, false)
		assert.Equal(t, "send", request(t, srv, http.MethodPost, "/demo/chat/send", ""), http.StatusOK)
		assert.Equal(t, "chat page", request(t, srv, http.MethodGet, "/chat", ""), http.StatusOK)
	})
}
