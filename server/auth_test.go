package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// The hub's side of authentication and authorization, with a test hook
// that maps bearer tokens to identities. Real credentials (JWTs, session
// cookies) are package auth's tests.

// tokenHook is a Config.Authenticate hook over a table of tokens, read from
// the Authorization header, the WebSocket subprotocol or the "session"
// cookie.
type tokenHook struct {
	mu  sync.Mutex // guards ids
	ids map[string]Identity
}

func newTokenHook(ids map[string]Identity) *tokenHook { return &tokenHook{ids: ids} }

func (th *tokenHook) set(token string, id Identity) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.ids[token] = id
}

func (th *tokenHook) authenticate(r *http.Request) (Identity, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(p), shared.BearerProtocolPrefix); ok {
			tok = rest // the test tokens need no base64
		}
	}
	if c, err := r.Cookie("session"); tok == "" && err == nil {
		tok = c.Value
	}
	if tok == "" {
		return Identity{}, errors.New("no credentials")
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	id, ok := th.ids[tok]
	if !ok {
		return Identity{}, shared.NewError(shared.CodeUnauthorized, "unknown token "+quote(tok))
	}
	return id, nil
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// alice may read public channels and her own, and publish on her own.
var alice = Identity{Subject: "alice", Subscribe: []string{"public:*", "user:{sub}"}, Publish: []string{"user:{sub}"}}

func authServer(t *testing.T, cfg Config) (*testServer, *tokenHook) {
	t.Helper()
	th := newTokenHook(map[string]Identity{"alice": alice})
	if cfg.Heartbeat == 0 {
		base := testConfig()
		cfg.Heartbeat, cfg.WriteTimeout = base.Heartbeat, base.WriteTimeout
	}
	cfg.Authenticate = th.authenticate
	return newTestServer(t, cfg, MemoryConfig{}), th
}

func TestMatchChannel(t *testing.T) {
	tests := []struct {
		pattern, channel, subject string
		want                      bool
	}{
		{"*", "anything", "", true},
		{"chat:*", "chat:lobby", "", true},
		{"chat:*", "chat", "", false},
		{"chat:lobby", "chat:lobby", "", true},
		{"chat:lobby", "chat:lobby2", "", false},
		{"user:{sub}", "user:alice", "alice", true},
		{"user:{sub}", "user:bob", "alice", false},
		{"user:{sub}", "user:", "", false},
		{"user:{sub}", "user:{sub}", "", false},
		{"user:{sub}:*", "user:alice:inbox", "alice", true},
		{"user:{sub}:*", "user:alice2:inbox", "alice", false},
		// A subject with a star is no wildcard, nor a subject at all for
		// "{sub}".
		{"user:{sub}", "user:anything", "*", false},
		{"user:{sub}", "user:*", "*", false},
		{"{sub}/{sub}", "bob/bob", "bob", true},
		{"{sub}/{sub}", "bob/bo", "bob", false},
		{"a:{sub}:b*", "a:bob:bc", "bob", true},
		{"a:{sub}:b*", "a:bob:c", "bob", false},
	}
	for _, tt := range tests {
		got := MatchChannel(tt.pattern, tt.channel, tt.subject)
		assert.Equal(t, tt.pattern+" ~ "+tt.channel+" for "+strconv.Quote(tt.subject), got, tt.want)
	}
}

// A "{sub}" pattern stands for one whole segment of a channel name: a
// subject cannot reach another subject's private channels, whatever
// separators or pattern characters it holds.
func TestSubPatternsStayWithinTheSubject(t *testing.T) {
	tests := []struct {
		pattern, channel, subject string
		want                      bool
	}{
		{"user:{sub}:*", "user:a:inbox", "a", true},
		{"user:{sub}", "user:a", "a", true},
		{"user:{sub}/*", "user:a/inbox", "a", true},
		// "a" owns everything under user:a:, so subject "a:b", whose
		// channels would be there, gets no "{sub}" channel at all.
		{"user:{sub}:*", "user:a:b:inbox", "a", true},
		{"user:{sub}:*", "user:a:b:inbox", "a:b", false},
		{"user:{sub}", "user:a:b", "a:b", false},
		{"user:{sub}:*", "user:a/b:x", "a/b", false},
		{"user:{sub}", "user:*", "*", false},
		{"user:{sub}", "user:{x}", "{x}", false},
		// The final star right after "{sub}" starts a new segment.
		{"user:{sub}*", "user:a", "a", true},
		{"user:{sub}*", "user:a:inbox", "a", true},
		{"user:{sub}*", "user:a/inbox", "a", true},
		{"user:{sub}*", "user:ab", "a", false},
		// "{sub}" must end a segment: user.{sub}.* would let "a" reach
		// the channels of "a.b".
		{"user.{sub}.*", "user.a.x", "a", false},
		{"{sub}-inbox", "a-inbox", "a", false},
		{"{sub}{sub}*", "aa", "a", false},
		// Subjects with other characters of the alphabet are fine.
		{"user:{sub}:*", "user:a.b@example.com:inbox", "a.b@example.com", true},
	}
	for _, tt := range tests {
		got := MatchChannel(tt.pattern, tt.channel, tt.subject)
		assert.Equal(t, tt.pattern+" ~ "+tt.channel+" for "+strconv.Quote(tt.subject), got, tt.want)
	}

	// The same through the hub. User "a:b" would write its inbox,
	// user:a:b:inbox, which user "a" reads as user:{sub}:*: refused.
	ts, th := authServer(t, Config{})
	private := []string{"user:{sub}", "user:{sub}:*"}
	th.set("a", Identity{Subject: "a", Subscribe: private, Publish: private})
	th.set("a:b", Identity{Subject: "a:b", Subscribe: private, Publish: private})
	for _, ch := range []string{"user:a:b", "user:a:b:inbox"} {
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", mergeHeaders(bearer("a:b"), jsonHeader), `{"channel":"`+ch+`","data":1}`)
		assert.Equal(t, "publish status "+string(body), resp.StatusCode, http.StatusForbidden)
		assert.Contains(t, "message", string(body), "{sub}")
		resp, body = ts.do(t, http.MethodGet, "/rt/sse?channel="+ch, bearer("a:b"), "")
		assert.Equal(t, "SSE status "+string(body), resp.StatusCode, http.StatusForbidden)
	}
}

func TestCheckPattern(t *testing.T) {
	for _, ok := range []string{"*", "chat:*", "chat:lobby", "user:{sub}", "user:{sub}:*", "user:{sub}*", "{sub}/{sub}", "a.b@c=d/e_f-g"} {
		assert.NoError(t, CheckPattern(ok))
	}
	for _, tt := range []struct{ pattern, says string }{
		{"", "empty"},
		{"user.{sub}.*", "must end a segment"},
		{"{sub}{sub}", "must end a segment"},
		{"{sub}-inbox", "must end a segment"},
		{"chat:*:x", "forbidden character"},
		{"user:{subject}", "forbidden character"},
		{"chat lobby", "forbidden character"},
	} {
		err := CheckPattern(tt.pattern)
		assert.True(t, strconv.Quote(tt.pattern)+" refused", err != nil)
		assert.Contains(t, "message", err.Error(), tt.says)
	}
}

func TestAuthRefusesMissingCredentials(t *testing.T) {
	ts, _ := authServer(t, Config{})
	for _, tok := range []string{"", "mallory"} {
		var h http.Header
		if tok != "" {
			h = bearer(tok)
		}
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=public:a", h, "")
		assert.Equal(t, "SSE status", resp.StatusCode, http.StatusUnauthorized)
		assert.Equal(t, "SSE code", errorBody(t, body), shared.CodeUnauthorized)
		assert.Contains(t, "WWW-Authenticate", resp.Header.Get("WWW-Authenticate"), "Bearer")

		h = mergeHeaders(h, jsonHeader)
		resp, body = ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "publish status", resp.StatusCode, http.StatusUnauthorized)
		assert.Equal(t, "publish code", errorBody(t, body), shared.CodeUnauthorized)

		// WebSocket: the handshake succeeds, then a close with 4401,
		// which a browser can see (it cannot see a refused upgrade's
		// status).
		opts := &websocket.DialOptions{Subprotocols: []string{shared.Protocol}}
		if tok != "" {
			opts.Subprotocols = append(opts.Subprotocols, shared.BearerProtocolPrefix+tok)
		}
		conn, _, err := ts.dialWS(t, opts)
		assert.NoError(t, err)
		assert.Equal(t, "selected subprotocol", conn.Subprotocol(), shared.Protocol)
		c := newWSClient(t, conn)
		code, rest := c.closeStatus(waitTimeout)
		assert.Equal(t, "WS close code", code, websocket.StatusCode(shared.CodeUnauthorized))
		assert.Equal(t, "frames before the close", len(rest), 0)
	}
	assert.Equal(t, "auth failures", ts.metrics(t)["duet_auth_failures_total"], int64(6))
}

func TestAuthHookChoosesTheCode(t *testing.T) {
	// A hook may refuse an identity for good: 4403, which clients do not
	// retry, on both wires.
	cfg := testConfig()
	cfg.Authenticate = func(*http.Request) (Identity, error) {
		return Identity{}, shared.NewError(shared.CodeForbidden, "account suspended")
	}
	ts := newTestServer(t, cfg, MemoryConfig{})
	resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
	assert.Equal(t, "SSE status", resp.StatusCode, http.StatusForbidden)
	assert.Equal(t, "SSE code", errorBody(t, body), shared.CodeForbidden)
	assert.Contains(t, "message", string(body), "account suspended")
	conn, _, err := ts.dialWS(t, nil)
	assert.NoError(t, err)
	code, _ := newWSClient(t, conn).closeStatus(waitTimeout)
	assert.Equal(t, "WS close code", code, websocket.StatusCode(shared.CodeForbidden))
	assert.Equal(t, "action", shared.CodeForbidden.Action(), shared.ActionStop)
}

func mergeHeaders(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		maps(out, h)
	}
	return out
}

func TestAuthPermissions(t *testing.T) {
	ts, _ := authServer(t, Config{})
	id1 := ts.publish(t, "user:bob", "", `"for bob"`)
	ts.publish(t, "public:news", "", `"news"`)

	t.Run("sse", func(t *testing.T) {
		// Allowed: public channels and alice's own.
		c := ts.openSSE(t, "channel=public:news&channel=user:alice&lastEventId="+idOf(0), bearer("alice"))
		_, env := c.nextMessage()
		assert.Equal(t, "replayed", env.Channel, "public:news")
		c.close()
		// Subscribe to another user's channel, and resume on it: refused,
		// nothing replayed.
		for _, q := range []string{"channel=user:bob", "channel=public:news&channel=user:bob&lastEventId=" + idOf(0)} {
			resp, body := ts.do(t, http.MethodGet, "/rt/sse?"+q, bearer("alice"), "")
			assert.Equal(t, "status of "+q, resp.StatusCode, http.StatusForbidden)
			assert.Equal(t, "code", errorBody(t, body), shared.CodeForbidden)
			assert.Contains(t, "message", string(body), `identity \"alice\" may not subscribe to channel \"user:bob\"`)
		}
	})
	t.Run("ws", func(t *testing.T) {
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol, shared.BearerProtocolPrefix + "alice"}})
		assert.NoError(t, err)
		c := newWSClient(t, conn)
		c.expect(shared.TypeHello)
		c.subscribe("1", "", "public:news", "user:alice")
		// Resume including a forbidden channel: refused as a whole, and
		// the message of bob's channel is never replayed.
		c.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "2", Channels: []string{"user:bob"}, LastEventID: idOf(0)})
		f := c.expectError("2", shared.CodeForbidden)
		assert.Contains(t, "message", f.Message, "may not subscribe")
		// Publish: own channel yes, others' no. The connection stays.
		c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: "3", Channel: "user:bob", Data: []byte(`1`)})
		f = c.expectError("3", shared.CodeForbidden)
		assert.Contains(t, "message", f.Message, `may not publish to channel "user:bob"`)
		c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: "4", Channel: "user:alice", Data: []byte(`2`)})
		m := c.expect(shared.TypeMessage)
		assert.Equal(t, "own message", m.Channel, "user:alice")
		assert.Equal(t, "ack", c.expect(shared.TypeAck).Ref, "4")
		assert.True(t, "bob's message never came", m.ID != id1)
	})
	t.Run("publish", func(t *testing.T) {
		h := mergeHeaders(bearer("alice"), jsonHeader)
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"public:news","data":1}`)
		assert.Equal(t, "status", resp.StatusCode, http.StatusForbidden)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeForbidden)
		resp, body = ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "status "+string(body), resp.StatusCode, http.StatusOK)
		// A bad name is a bad name, not a refusal.
		resp, body = ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"bad name","data":1}`)
		assert.Equal(t, "status", resp.StatusCode, http.StatusBadRequest)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeBadChannel)
	})
}

func TestAuthorizeCallback(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	ts, _ := authServer(t, Config{Authorize: func(id Identity, a Permission, ch string) error {
		mu.Lock()
		asked = append(asked, id.Subject+" "+a.String()+" "+ch)
		mu.Unlock()
		if ch == "vip" {
			return errors.New("members only")
		}
		return nil
	}})
	c := ts.openSSE(t, "channel=user:bob", bearer("alice")) // the callback overrides the patterns
	c.close()
	resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=vip", bearer("alice"), "")
	assert.Equal(t, "status", resp.StatusCode, http.StatusForbidden)
	assert.Contains(t, "message", string(body), "members only")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "asked", strings.Join(asked, ","), "alice subscribe user:bob,alice subscribe vip")
}

func TestAuthExpiryClosesConnections(t *testing.T) {
	ts, th := authServer(t, Config{})
	expiring := func() string {
		tok := "short-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		id := alice
		id.Expires = time.Now().Add(time.Second)
		th.set(tok, id)
		return tok
	}
	t.Run("ws", func(t *testing.T) {
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol, shared.BearerProtocolPrefix + expiring()}})
		assert.NoError(t, err)
		c := newWSClient(t, conn)
		c.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{"public:a"}})
		code, frames := c.closeStatus(waitTimeout)
		assert.Equal(t, "close code", code, websocket.StatusCode(shared.CodeUnauthorized))
		assert.True(t, "hello first", len(frames) > 0 && frames[0].Type == shared.TypeHello)
		assert.Equal(t, "action", shared.CodeUnauthorized.Action(), shared.ActionRefresh)
	})
	t.Run("sse", func(t *testing.T) {
		c := ts.openSSE(t, "channel=public:a", bearer(expiring()))
		evs := c.end(waitTimeout)
		last := evs[len(evs)-1]
		assert.Equal(t, "last event", last.Type, sseCloseEvent)
		f, err := shared.DecodeFrame([]byte(last.Data))
		assert.NoError(t, err)
		assert.Equal(t, "close code", f.Code, shared.CodeUnauthorized)
		assert.Contains(t, "reason", f.Message, "refresh")
	})
	t.Run("already expired", func(t *testing.T) {
		id := alice
		id.Expires = time.Now().Add(-time.Second)
		th.set("old", id)
		resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=public:a", bearer("old"), "")
		assert.Equal(t, "status", resp.StatusCode, http.StatusUnauthorized)
		assert.Contains(t, "message", string(body), "expired")
	})
}

func TestPublishRateLimits(t *testing.T) {
	t.Run("per connection", func(t *testing.T) {
		ts, _ := authServer(t, Config{PublishRate: 0.001, PublishBurst: 3})
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol, shared.BearerProtocolPrefix + "alice"}})
		assert.NoError(t, err)
		c := newWSClient(t, conn)
		c.expect(shared.TypeHello)
		for i := range 3 {
			c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: strconv.Itoa(i), Channel: "user:alice", Data: []byte(`1`)})
			assert.Equal(t, "ack", c.expect(shared.TypeAck).Ref, strconv.Itoa(i))
		}
		c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: "x", Channel: "user:alice", Data: []byte(`1`)})
		f := c.expectError("x", shared.CodeRateLimited)
		assert.Contains(t, "message", f.Message, "this connection publishes more than 0.001 messages per second")
		// The connection stays, and a forbidden publish costs no token.
		c.send(`{"type":"ping","ref":"p"}`)
		assert.Equal(t, "pong", c.expect(shared.TypePong).Type, shared.TypePong)
		assert.Equal(t, "metric", ts.metrics(t)["duet_rate_limited_total"], int64(1))
	})
	t.Run("per identity", func(t *testing.T) {
		ts, _ := authServer(t, Config{IdentityPublishRate: 0.001, IdentityPublishBurst: 2})
		h := mergeHeaders(bearer("alice"), jsonHeader)
		// The same identity over WebSocket and HTTP shares one budget.
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol, shared.BearerProtocolPrefix + "alice"}})
		assert.NoError(t, err)
		c := newWSClient(t, conn)
		c.expect(shared.TypeHello)
		c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: "1", Channel: "user:alice", Data: []byte(`1`)})
		c.expect(shared.TypeAck)
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "status "+string(body), resp.StatusCode, http.StatusOK)
		resp, body = ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "status", resp.StatusCode, http.StatusTooManyRequests)
		assert.Equal(t, "code", errorBody(t, body), shared.CodeRateLimited)
		assert.Contains(t, "message", string(body), `identity \"alice\" publishes more than`)
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		assert.NoError(t, err)
		assert.True(t, "Retry-After in seconds, about 1000s", secs > 900 && secs <= 1000)
		c.sendFrame(shared.Frame{Type: shared.TypePublish, Ref: "2", Channel: "user:alice", Data: []byte(`1`)})
		c.expectError("2", shared.CodeRateLimited)
	})
}

func TestCORS(t *testing.T) {
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"content-type,authorization"}}
	t.Run("off by default", func(t *testing.T) {
		ts := newTestServer(t, testConfig(), MemoryConfig{})
		resp, _ := ts.do(t, http.MethodOptions, "/rt/publish", preflight, "")
		assert.Equal(t, "preflight status", resp.StatusCode, http.StatusMethodNotAllowed)
		assert.Equal(t, "no CORS header", resp.Header.Get("Access-Control-Allow-Origin"), "")
		c := ts.openSSE(t, "channel=a", http.Header{"Origin": {"https://app.example"}})
		assert.Equal(t, "no CORS header on SSE", c.resp.Header.Get("Access-Control-Allow-Origin"), "")
	})
	t.Run("allowed origins", func(t *testing.T) {
		cfg := testConfig()
		cfg.CORSOrigins = []string{"https://app.example"}
		ts := newTestServer(t, cfg, MemoryConfig{})
		for _, path := range []string{"/rt/publish", "/rt/sse"} {
			resp, _ := ts.do(t, http.MethodOptions, path, preflight, "")
			assert.Equal(t, path+" preflight status", resp.StatusCode, http.StatusNoContent)
			assert.Equal(t, "allow origin", resp.Header.Get("Access-Control-Allow-Origin"), "https://app.example")
			assert.Equal(t, "allow credentials", resp.Header.Get("Access-Control-Allow-Credentials"), "true")
			assert.Contains(t, "allow headers", resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
			assert.Contains(t, "vary", resp.Header.Get("Vary"), "Origin")
		}
		h := http.Header{"Origin": {"https://app.example"}, "Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"application/json"}}
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"a","data":1}`)
		assert.Equal(t, "cross-origin publish from an allowed origin "+string(body), resp.StatusCode, http.StatusOK)
		assert.Equal(t, "allow origin", resp.Header.Get("Access-Control-Allow-Origin"), "https://app.example")
		c := ts.openSSE(t, "channel=a", http.Header{"Origin": {"https://app.example"}})
		assert.Equal(t, "SSE allow origin", c.resp.Header.Get("Access-Control-Allow-Origin"), "https://app.example")
		// The allowed origin may open WebSockets too; another may not.
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: http.Header{"Origin": {"https://app.example"}}})
		assert.NoError(t, err)
		newWSClient(t, conn).expect(shared.TypeHello)
		_, resp, err = ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol}, HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		assert.True(t, "foreign WebSocket refused", err != nil && resp.StatusCode == http.StatusForbidden)
		// Another origin gets no CORS headers, and its preflight no 204.
		other := mergeHeaders(preflight, http.Header{"Origin": {"https://evil.example"}})
		resp, _ = ts.do(t, http.MethodOptions, "/rt/publish", other, "")
		assert.Equal(t, "foreign preflight", resp.StatusCode, http.StatusMethodNotAllowed)
		assert.Equal(t, "no CORS header", resp.Header.Get("Access-Control-Allow-Origin"), "")
	})
	t.Run("bad origin in config", func(t *testing.T) {
		_, err := NewHub(&Config{CORSOrigins: []string{"https://app.example/path"}})
		assert.True(t, "refused", err != nil && strings.Contains(err.Error(), "not an origin"))
	})
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	ts, _ := authServer(t, Config{})
	cookie := http.Header{"Cookie": {"session=alice"}}
	t.Run("publish forged by another site", func(t *testing.T) {
		for _, h := range []http.Header{
			{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
			{"Origin": {"https://evil.example"}}, // an older browser: Origin only
		} {
			resp, body := ts.do(t, http.MethodPost, "/rt/publish", mergeHeaders(cookie, jsonHeader, h), `{"channel":"user:alice","data":1}`)
			assert.Equal(t, "status "+string(body), resp.StatusCode, http.StatusForbidden)
			assert.Equal(t, "code", errorBody(t, body), shared.CodeForbidden)
			assert.Contains(t, "message", string(body), "cross-origin publish refused")
		}
		// The same request from the page's own origin goes through.
		same := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {ts.url}}
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", mergeHeaders(cookie, jsonHeader, same), `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "same-origin status "+string(body), resp.StatusCode, http.StatusOK)
		// A form post cannot be JSON: refused before anything else.
		resp, _ = ts.do(t, http.MethodPost, "/rt/publish", mergeHeaders(cookie, http.Header{"Content-Type": {"text/plain"}}), `{"channel":"user:alice","data":1}`)
		assert.Equal(t, "text/plain status", resp.StatusCode, http.StatusUnsupportedMediaType)
	})
	t.Run("websocket hijacking", func(t *testing.T) {
		// A page of another site opening a WebSocket with the user's
		// cookie: refused at the handshake.
		_, resp, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol},
			HTTPHeader: mergeHeaders(cookie, http.Header{"Origin": {"https://evil.example"}})})
		assert.True(t, "dial refused", err != nil)
		assert.Equal(t, "status", resp.StatusCode, http.StatusForbidden)
		// The same cookie from the page's own origin works.
		conn, _, err := ts.dialWS(t, &websocket.DialOptions{Subprotocols: []string{shared.Protocol},
			HTTPHeader: mergeHeaders(cookie, http.Header{"Origin": {ts.url}})})
		assert.NoError(t, err)
		c := newWSClient(t, conn)
		c.expect(shared.TypeHello)
		c.subscribe("1", "", "user:alice")
	})
}

// The cost every client publish now pays: expiry, permission and the two
// rate limits.
func BenchmarkAdmitPublish(b *testing.B) {
	h, err := NewHub(&Config{Logger: quietLogger(), PublishRate: 1e9, IdentityPublishRate: 1e9})
	assert.NoError(b, err)
	defer h.Shutdown(b.Context())
	id := alice
	id.Expires = time.Now().Add(time.Hour)
	p := h.rates.newPublisher(&id, &http.Request{RemoteAddr: "127.0.0.1:1"}, true)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.admitPublish(&id, &p, "user:alice"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzMatchChannel checks the matcher against the obvious definition:
// expand "{sub}", then compare (or compare prefixes for a final "*"), where
// a pattern with "{sub}" needs a subject that fits and a "{sub}" that ends
// a segment.
func FuzzMatchChannel(f *testing.F) {
	f.Add("user:{sub}", "user:alice", "alice")
	f.Add("a:{sub}:b*", "a:bob:bc", "bob")
	f.Add("*", "x", "")
	f.Add("{sub}{sub}*", "aaa", "a")
	f.Add("user:{sub}:*", "user:a:b:inbox", "a:b")
	f.Add("user:{sub}*", "user:ab", "a")
	f.Add("user.{sub}.*", "user.a.b", "a")
	f.Fuzz(func(t *testing.T, pattern, channel, subject string) {
		prefix, wild := strings.CutSuffix(pattern, "*")
		want := false
		segments := true
		parts := strings.Split(prefix, "{sub}")
		for j, after := range parts[1:] {
			last := j == len(parts)-2
			segments = segments && ((last && after == "") || (after != "" && (after[0] == ':' || after[0] == '/')))
		}
		if !strings.Contains(prefix, "{sub}") || (SubjectFitsPattern(subject) && segments) {
			expanded := strings.ReplaceAll(prefix, "{sub}", subject)
			want = channel == expanded || (wild && strings.HasPrefix(channel, expanded))
			if want && wild && strings.HasSuffix(prefix, "{sub}") {
				rest := channel[len(expanded):]
				want = rest == "" || rest[0] == ':' || rest[0] == '/'
			}
		}
		if got := MatchChannel(pattern, channel, subject); got != want {
			t.Fatalf("MatchChannel(%q, %q, %q) = %v, want %v", pattern, channel, subject, got, want)
		}
	})
}
