package auth_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/golang-jwt/jwt/v5"
)

// The query-parameter token exists for a native EventSource, and is read on
// the hub's SSE endpoint only: never on a WebSocket handshake or a publish,
// whatever the request's Accept header says.
func TestQueryTokenOnlyOnSSE(t *testing.T) {
	j := mustJWT(t, auth.JWTConfig{HS256Secret: hsSecret, Tokens: auth.TokenSources{QueryParam: "access_token"}})
	_, srv := serveHub(t, &server.Config{Authenticate: j.Authenticate})
	tok := url.QueryEscape(sign(t, jwt.SigningMethodHS256, hsSecret, "", claims("alice", time.Minute)))
	eventStream := http.Header{"Accept": {"text/event-stream"}}

	t.Run("SSE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/rt/sse?channel=user:alice&access_token="+tok, nil)
		req.Header = eventStream.Clone()
		resp, err := http.DefaultClient.Do(req)
		assert.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		assert.NoError(t, err)
		assert.True(t, "the stream starts: "+line, strings.HasPrefix(line, "retry:") || strings.HasPrefix(line, ":") || strings.HasPrefix(line, "event:"))
	})
	t.Run("WebSocket, even accepting text/event-stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/rt/ws?access_token="+tok,
			&websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: eventStream})
		assert.NoError(t, err)
		defer conn.CloseNow()
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				assert.Equal(t, "close code", websocket.CloseStatus(err), websocket.StatusCode(shared.CodeUnauthorized))
				return
			}
			assert.True(t, "no hello before the refusal: "+string(msg), !strings.Contains(string(msg), `"hello"`))
		}
	})
	t.Run("publish", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rt/publish?access_token="+tok, strings.NewReader(`{"channel":"user:alice","data":1}`))
		req.Header = eventStream.Clone()
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		assert.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "status", resp.StatusCode, http.StatusUnauthorized)
	})
	t.Run("off by default", func(t *testing.T) {
		j := mustJWT(t, auth.JWTConfig{HS256Secret: hsSecret})
		hub, err := server.NewHub(&server.Config{Authenticate: j.Authenticate})
		assert.NoError(t, err)
		defer func() { _ = hub.Shutdown(context.Background()) }()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/rt/sse?channel=user:alice&access_token="+tok, nil)
		r.Header = eventStream.Clone()
		hub.Handler().ServeHTTP(w, r)
		assert.Equal(t, "status", w.Code, http.StatusUnauthorized)
	})
	t.Run("outside the hub", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/rt/sse?access_token="+tok, nil)
		r.Header = eventStream.Clone()
		_, _, err := (&auth.TokenSources{QueryParam: "access_token"}).Token(r)
		assert.ErrorIs(t, err, auth.ErrNoCredentials)
	})
}
