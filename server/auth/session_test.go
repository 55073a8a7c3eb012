package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared"
)

var (
	sessionKey1 = []byte("session key one, thirty-two bytes long")
	sessionKey2 = []byte("session key two, thirty-two bytes long")
)

func mustSessions(t testing.TB, cfg auth.SessionConfig) *auth.Sessions {
	t.Helper()
	s, err := auth.NewSessions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessions(t *testing.T) {
	s := mustSessions(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}})
	id := server.Identity{Subject: "alice", Subscribe: []string{"user:{sub}"}, Publish: []string{"user:{sub}"},
		Claims: map[string]any{"role": "editor"}}

	rec := httptest.NewRecorder()
	if err := s.Issue(rec, id); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies", len(cookies))
	}
	c := cookies[0]
	if c.Name != "__Host-duet_session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("cookie attributes %+v", c)
	}
	r := httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
	r.AddCookie(c)
	got, err := s.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || got.Claims["role"] != "editor" || !got.Allows(server.PermissionPublish, "user:alice") ||
		time.Until(got.Expires) < 11*time.Hour {
		t.Fatalf("identity %+v", got)
	}

	t.Run("no cookie", func(t *testing.T) {
		_, err := s.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
		if err != auth.ErrNoCredentials {
			t.Fatalf("error %v, want ErrNoCredentials", err)
		}
	})
	refused := func(t *testing.T, s *auth.Sessions, value, want string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: s.CookieName(), Value: value})
		_, err := s.Authenticate(r)
		if code, _ := shared.ErrorCode(err); code != shared.CodeUnauthorized || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want a 4401 saying %q", err, want)
		}
	}
	t.Run("tampered", func(t *testing.T) {
		other, err := s.Encode(server.Identity{Subject: "admin", Subscribe: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		payload, _, _ := strings.Cut(other, ".")
		_, sig, _ := strings.Cut(c.Value, ".")
		refused(t, s, payload+"."+sig, "signature is invalid")
		refused(t, s, "garbage", "malformed")
	})
	t.Run("expired", func(t *testing.T) {
		v, err := s.Encode(server.Identity{Subject: "alice", Expires: time.Now().Add(-time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		refused(t, s, v, "session expired")
	})
	t.Run("key rotation", func(t *testing.T) {
		// A new key first: new cookies use it, old ones still verify.
		rotated := mustSessions(t, auth.SessionConfig{Keys: [][]byte{sessionKey2, sessionKey1}})
		if _, err := rotated.Decode(c.Value); err != nil {
			t.Fatalf("old cookie after rotation: %v", err)
		}
		// Once the old key is dropped, its cookies stop working.
		dropped := mustSessions(t, auth.SessionConfig{Keys: [][]byte{sessionKey2}})
		refused(t, dropped, c.Value, "signature is invalid")
	})
	t.Run("short key", func(t *testing.T) {
		if _, err := auth.NewSessions(auth.SessionConfig{Keys: [][]byte{[]byte("short")}}); err == nil {
			t.Fatal("a 5-byte key was accepted")
		}
	})
}

func TestAny(t *testing.T) {
	s := mustSessions(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}})
	j := mustJWT(t, auth.JWTConfig{HS256Secret: hsSecret})
	hook := auth.Any(j.Authenticate, s.Authenticate, auth.AllowAnonymous([]string{"public:*"}, nil))
	// No credentials: anonymous, with less rights.
	id, err := hook(httptest.NewRequest(http.MethodGet, "/", nil))
	if err != nil || id.Subject != "" || !id.Allows(server.PermissionSubscribe, "public:a") || id.Allows(server.PermissionPublish, "public:a") {
		t.Fatalf("anonymous: %+v, %v", id, err)
	}
	// A bad token is refused, not treated as no token.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer not.a.token")
	if _, err := hook(r); err == nil {
		t.Fatal("a bad token fell through to the anonymous identity")
	}
	// Without the anonymous fallback, no credentials is a 4401.
	_, err = auth.Any(j.Authenticate, s.Authenticate)(httptest.NewRequest(http.MethodGet, "/", nil))
	if code, _ := shared.ErrorCode(err); code != shared.CodeUnauthorized {
		t.Fatalf("no credentials: %v", err)
	}
}

// FuzzSessionDecode: cookie values come from the network. None may panic
// the decoder, and none but those signed with the key may pass: an
// accepted cookie must carry exactly the payload the key signed, so a
// forged subject, expiry or permission list is refused.
func FuzzSessionDecode(f *testing.F) {
	s := mustSessions(f, auth.SessionConfig{Keys: [][]byte{sessionKey1}})
	// A fixed expiry: the fuzzing workers run this setup again, each at its
	// own time, and must sign the very payload the coordinator's seeds carry
	// (with "now + TTL" a second's difference made the good seed "forged").
	exp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := s.Encode(server.Identity{Subject: "alice", Subscribe: []string{"public:*"}, Expires: exp})
	if err != nil {
		f.Fatal(err)
	}
	signed, sig, _ := strings.Cut(good, ".")
	// alice's signature on a payload that widens her permissions.
	wider, err := mustSessions(f, auth.SessionConfig{Keys: [][]byte{sessionKey2}}).Encode(
		server.Identity{Subject: "alice", Subscribe: []string{"*"}, Publish: []string{"*"}, Expires: exp})
	if err != nil {
		f.Fatal(err)
	}
	widerPayload, _, _ := strings.Cut(wider, ".")
	f.Add(good)
	f.Add(widerPayload + "." + sig)
	f.Add(wider) // signed with a key s does not hold
	f.Add("e30.AAAA")
	f.Add(".")
	f.Fuzz(func(t *testing.T, v string) {
		id, err := s.Decode(v)
		if err != nil {
			return
		}
		if payload, _, _ := strings.Cut(v, "."); payload != signed {
			t.Fatalf("forged cookie %q accepted as %+v: only the payload signed with the key may pass", v, id)
		}
	})
}

// The session cookie is named with the __Host- prefix by default, so a
// sibling subdomain cannot plant or shadow it: browsers accept such a
// cookie only when it is Secure, has Path=/ and no Domain.
func TestSessionCookieHostPrefix(t *testing.T) {
	issued := func(t *testing.T, cfg auth.SessionConfig) *http.Cookie {
		t.Helper()
		rec := httptest.NewRecorder()
		if err := mustSessions(t, cfg).Issue(rec, server.Identity{Subject: "alice"}); err != nil {
			t.Fatal(err)
		}
		return rec.Result().Cookies()[0]
	}
	c := issued(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}})
	if c.Name != "__Host-duet_session" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
		t.Fatalf("default cookie %+v: want __Host-duet_session, Secure, Path=/, no Domain, HttpOnly", c)
	}
	// Where the prefix cannot hold, the default name has none.
	if c := issued(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}, Insecure: true}); c.Name != "duet_session" || c.Secure {
		t.Fatalf("insecure cookie %+v: want duet_session without Secure", c)
	}
	if c := issued(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}, Path: "/app"}); c.Name != "duet_session" || !c.Secure {
		t.Fatalf("cookie with a path %+v: want duet_session, Secure", c)
	}
	// A name the browser would refuse with these attributes is refused
	// here, not silently dropped by every browser.
	for _, cfg := range []auth.SessionConfig{
		{Keys: [][]byte{sessionKey1}, Cookie: "__Host-s", Insecure: true},
		{Keys: [][]byte{sessionKey1}, Cookie: "__Host-s", Path: "/app"},
		{Keys: [][]byte{sessionKey1}, Cookie: "__Secure-s", Insecure: true},
	} {
		if _, err := auth.NewSessions(cfg); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Fatalf("%+v: %v, want a refusal naming the prefix", cfg, err)
		}
	}
	// The hook reads the cookie by its name; a cookie of the old name (or
	// planted by a sibling under it) is not read.
	r := httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
	r.AddCookie(&http.Cookie{Name: "duet_session", Value: c.Value})
	if _, err := mustSessions(t, auth.SessionConfig{Keys: [][]byte{sessionKey1}}).Authenticate(r); err != auth.ErrNoCredentials {
		t.Fatalf("a duet_session cookie: %v, want ErrNoCredentials", err)
	}
}
