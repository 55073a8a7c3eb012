package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/golang-jwt/jwt/v5"
)

// TestAuthFlagsOneKey: two JWT key flags are refused rather than one of
// them silently winning.
func TestAuthFlagsOneKey(t *testing.T) {
	var f authFlags
	fs := flag.NewFlagSet("duet", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"-jwt-public-key", "key.pem", "-jwt-jwks", "jwks.json", "-jwt-aud", "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.apply(&server.Config{}, "localhost:8080", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "one JWT key") {
		t.Fatalf("two key flags: err %v, want a refusal", err)
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveAuth serves a hub configured by bin/duet's authentication flags,
// logging into the returned buffer.
func serveAuth(t *testing.T, args ...string) (*httptest.Server, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := &server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	_, err := parseAuthFlags(t, args...).apply(cfg, "127.0.0.1:0", slog.New(slog.NewTextHandler(logs, nil)))
	assert.NoError(t, err)
	hub, err := server.NewHub(cfg)
	assert.NoError(t, err)
	srv := httptest.NewServer(hub.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	return srv, logs
}

func hsToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	claims["aud"], claims["exp"] = "a", time.Now().Add(time.Minute).Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	assert.NoError(t, err)
	return tok
}

// try subscribes over SSE (GET) or publishes (POST) with tok and returns
// the status and body.
func try(t *testing.T, srv *httptest.Server, method, channel, tok string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, body := srv.URL+"/rt/sse?channel="+channel, ""
	if method == http.MethodPost {
		url, body = srv.URL+"/rt/publish", `{"channel":"`+channel+`","data":1}`
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	assert.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	assert.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && method == http.MethodGet {
		return resp.StatusCode, "" // a stream: do not read to its end
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A token that names no channels gets none from bin/duet unless a flag
// grants them, and the refusal says which flag.
func TestLeastPrivilegeByDefault(t *testing.T) {
	base := []string{"-jwt-hs256-secret-file", secretFile(t), "-jwt-aud", "a"}

	srv, logs := serveAuth(t, base...)
	bare := hsToken(t, jwt.MapClaims{"sub": "alice"})
	status, body := try(t, srv, http.MethodGet, "chat:lobby", bare)
	assert.Equal(t, "subscribe status "+body, status, http.StatusForbidden)
	assert.Contains(t, "subscribe refusal", body, "-jwt-subscribe")
	status, body = try(t, srv, http.MethodPost, "chat:lobby", bare)
	assert.Equal(t, "publish status "+body, status, http.StatusForbidden)
	assert.Contains(t, "publish refusal", body, "-jwt-publish")
	assert.Contains(t, "log", logs.String(), "-jwt-subscribe")
	assert.Contains(t, "log", logs.String(), "-jwt-publish")

	// A token's own claims grant what they say, and no more.
	claimed := hsToken(t, jwt.MapClaims{"sub": "alice", "subscribe": []string{"chat:*"}, "publish": "chat:lobby"})
	status, _ = try(t, srv, http.MethodGet, "chat:lobby", claimed)
	assert.Equal(t, "subscribe with a claim", status, http.StatusOK)
	status, _ = try(t, srv, http.MethodPost, "chat:lobby", claimed)
	assert.Equal(t, "publish with a claim", status, http.StatusOK)
	status, body = try(t, srv, http.MethodPost, "chat:other", claimed)
	assert.Equal(t, "publish beyond the claim", status, http.StatusForbidden)
	assert.True(t, "no flag named when the token has its claim: "+body, !strings.Contains(body, "-jwt-publish"))

	// The flags grant channels to tokens without claims.
	srv, _ = serveAuth(t, append(base, "-jwt-subscribe", "chat:*", "-jwt-publish", "user:{sub}")...)
	status, _ = try(t, srv, http.MethodGet, "chat:lobby", bare)
	assert.Equal(t, "subscribe granted by -jwt-subscribe", status, http.StatusOK)
	status, _ = try(t, srv, http.MethodPost, "user:alice", bare)
	assert.Equal(t, "publish granted by -jwt-publish", status, http.StatusOK)
	status, _ = try(t, srv, http.MethodPost, "chat:lobby", bare)
	assert.Equal(t, "publish not granted", status, http.StatusForbidden)
}
