package auth_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared"
	"github.com/golang-jwt/jwt/v5"
)

func mustJWT(t testing.TB, cfg auth.JWTConfig) *auth.JWT {
	t.Helper()
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	j, err := auth.NewJWT(cfg)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// verify checks tok and returns the identity, or fails unless the error
// is a 4401 containing want.
func verify(t *testing.T, j *auth.JWT, tok, want string) server.Identity {
	t.Helper()
	id, err := j.Verify(nil, tok)
	if want == "" {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return id
	}
	if err == nil {
		t.Fatalf("Verify accepted a token that must fail with %q", want)
	}
	if code, _ := shared.ErrorCode(err); code != shared.CodeUnauthorized {
		t.Fatalf("error %v: code %d, want 4401", err, code)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	return id
}

func TestJWTAlgorithms(t *testing.T) {
	testKeys(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks(t, map[string]any{"rsa1": &rsaKey.PublicKey, "ec1": &ecKey.PublicKey}))
	}))
	defer jwksSrv.Close()
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks(t, map[string]any{"ec1": &ecKey.PublicKey}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  auth.JWTConfig
		tok  string
	}{
		{"HS256", auth.JWTConfig{HS256Secret: hsSecret}, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims("alice", time.Minute))},
		{"RS256 PEM", auth.JWTConfig{PublicKeyFile: writePEM(t, &rsaKey.PublicKey)}, sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("alice", time.Minute))},
		{"ES256 PEM", auth.JWTConfig{PublicKeyFile: writePEM(t, &ecKey.PublicKey)}, sign(t, jwt.SigningMethodES256, ecKey, "", claims("alice", time.Minute))},
		{"RS256 JWKS URL", auth.JWTConfig{JWKSURL: jwksSrv.URL}, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims("alice", time.Minute))},
		{"ES256 JWKS URL", auth.JWTConfig{JWKSURL: jwksSrv.URL}, sign(t, jwt.SigningMethodES256, ecKey, "ec1", claims("alice", time.Minute))},
		{"ES256 JWKS file, no kid", auth.JWTConfig{JWKSFile: jwksFile}, sign(t, jwt.SigningMethodES256, ecKey, "", claims("alice", time.Minute))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustJWT(t, tt.cfg)
			id := verify(t, j, tt.tok, "")
			if id.Subject != "alice" || id.Expires.IsZero() || time.Until(id.Expires) > time.Minute+5*time.Second { // exp plus the default leeway
				t.Fatalf("identity %+v", id)
			}
			if !id.Allows(server.PermissionSubscribe, "user:alice") || id.Allows(server.PermissionSubscribe, "user:bob") ||
				!id.Allows(server.PermissionPublish, "user:alice") || id.Allows(server.PermissionPublish, "public:x") {
				t.Fatalf("permissions %v / %v", id.Subscribe, id.Publish)
			}
		})
	}
}

func TestJWTRefusals(t *testing.T) {
	testKeys(t)
	hs := mustJWT(t, auth.JWTConfig{HS256Secret: hsSecret, Issuer: "https://issuer.test"})
	pemFile := writePEM(t, &rsaKey.PublicKey)
	rs := mustJWT(t, auth.JWTConfig{PublicKeyFile: pemFile})
	pemBytes, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	good := func() jwt.MapClaims { c := claims("alice", time.Minute); c["iss"] = "https://issuer.test"; return c }
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	tampered := func() string {
		tok := sign(t, jwt.SigningMethodHS256, hsSecret, "", good())
		parts := strings.Split(tok, ".")
		evil := sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes!!"), "", with("sub", "admin"))
		return parts[0] + "." + strings.Split(evil, ".")[1] + "." + parts[2]
	}
	tests := []struct {
		name string
		j    *auth.JWT
		tok  string
		want string
	}{
		{"expired", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("exp", time.Now().Add(-time.Minute).Unix())), "expired: refresh it"},
		{"nbf in the future", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("nbf", time.Now().Add(time.Hour).Unix())), "not valid yet"},
		{"wrong audience", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("aud", "another-service")), "wrong audience"},
		{"no audience", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", without("aud")), "aud"},
		{"wrong issuer", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("iss", "https://evil.test")), "wrong issuer"},
		{"no exp", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", without("exp")), "exp"},
		{"issued in the future", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("iat", time.Now().Add(time.Hour).Unix())), "issued in the future"},
		{"wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes!!"), "", good()), "bad signature"},
		{"tampered payload", hs, tampered(), "bad signature"},
		{"alg none", hs, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good()), "signing method none is invalid"},
		{"HS512 on an HS256 verifier", hs, sign(t, jwt.SigningMethodHS512, hsSecret, "", good()), "signing method HS512 is invalid"},
		// Algorithm confusion: an HS256 token whose HMAC key is the
		// server's RSA public key, which an attacker knows.
		{"HS256 with the RSA public key", rs, sign(t, jwt.SigningMethodHS256, pemBytes, "", claims("alice", time.Minute)), "signing method HS256 is invalid"},
		{"RS256 signed by another key", rs, sign(t, jwt.SigningMethodRS256, rsaKey2, "", claims("alice", time.Minute)), "bad signature"},
		{"ES256 on an RSA verifier", rs, sign(t, jwt.SigningMethodES256, ecKey, "", claims("alice", time.Minute)), "signing method ES256 is invalid"},
		{"garbage", hs, "not.a.token", "malformed"},
		{"bad permissions claim", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", with("publish", 42)), "claim publish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { verify(t, tt.j, tt.tok, tt.want) })
	}
}

func TestJWTConfigRefusals(t *testing.T) {
	testKeys(t)
	tests := []struct {
		name string
		cfg  auth.JWTConfig
		want string
	}{
		{"no key", auth.JWTConfig{Audience: "a"}, "exactly one"},
		{"two keys", auth.JWTConfig{Audience: "a", HS256Secret: hsSecret, JWKSURL: "http://x"}, "exactly one"},
		{"no audience", auth.JWTConfig{HS256Secret: hsSecret}, "Audience is required"},
		{"short secret", auth.JWTConfig{Audience: "a", HS256Secret: []byte("short")}, "at least 32"},
		{"HS256 with a public key", auth.JWTConfig{Audience: "a", PublicKeyFile: writePEM(t, &rsaKey.PublicKey), Algorithms: []string{"HS256"}}, "cannot be used"},
		{"missing key file", auth.JWTConfig{Audience: "a", PublicKeyFile: "/nonexistent.pem"}, "cannot read"},
		{"JWKS unreachable", auth.JWTConfig{Audience: "a", JWKSURL: "http://127.0.0.1:1/jwks"}, "cannot fetch the JWKS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewJWT(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewJWT: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestJWKSRotation(t *testing.T) {
	testKeys(t)
	var fetches atomic.Int32
	var current atomic.Value
	current.Store(jwks(t, map[string]any{"k1": &rsaKey.PublicKey}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(current.Load().([]byte))
	}))
	defer srv.Close()
	// Long enough that the check inside it runs on a loaded machine; one
	// that gets there too late fails, rather than checking nothing.
	const minGap = 2 * time.Second
	loaded := time.Now() // NewJWT loads the set
	j := mustJWT(t, auth.JWTConfig{JWKSURL: srv.URL, JWKSMinInterval: minGap})
	for range 5 {
		verify(t, j, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("a", time.Minute)), "")
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for one key used 5 times, want 1 (cached)", n)
	}
	// The issuer rotates to k2. Within JWKSMinInterval of the last load,
	// an unknown kid does not make the server fetch again (a flood of
	// made-up kids cannot hammer the JWKS endpoint)…
	current.Store(jwks(t, map[string]any{"k2": &rsaKey2.PublicKey}))
	tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims("a", time.Minute))
	_, err := j.Verify(nil, tok2)
	if since := time.Since(loaded); since >= minGap {
		t.Fatalf("the machine took %v to get here, past JWKSMinInterval (%v): the check inside it cannot run", since, minGap)
	}
	if err == nil {
		t.Fatal("k2 accepted before the key set could be loaded again")
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches inside JWKSMinInterval, want 1", n)
	}
	// …after it, the unknown kid loads the set again, once.
	time.Sleep(minGap - time.Since(loaded) + 10*time.Millisecond)
	for range 3 {
		verify(t, j, tok2, "")
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// k1 is gone from the set: its tokens no longer verify.
	verify(t, j, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("a", time.Minute)), `no key "k1"`)
}

func TestTokenSources(t *testing.T) {
	src := auth.TokenSources{Cookie: "tok", QueryParam: "access_token"}
	req := func(h http.Header, url string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, url, nil)
		for k, v := range h {
			r.Header[k] = v
		}
		return r
	}
	tests := []struct {
		name      string
		r         *http.Request
		tok, from string
		err       string
	}{
		{"header", req(http.Header{"Authorization": {"Bearer abc"}}, "/rt/sse"), "abc", "header", ""},
		{"header, lower-case scheme", req(http.Header{"Authorization": {"bearer abc"}}, "/rt/sse"), "abc", "header", ""},
		{"basic is refused", req(http.Header{"Authorization": {"Basic abc"}}, "/rt/sse"), "", "", "Bearer <token>"},
		{"websocket", req(http.Header{"Sec-Websocket-Protocol": {"duet.v1, " + shared.BearerProtocol("a.b.c")}}, "/rt/ws"), "a.b.c", "websocket", ""},
		{"websocket, bad base64", req(http.Header{"Sec-Websocket-Protocol": {"duet.v1, duet.bearer.***"}}, "/rt/ws"), "", "", "base64url"},
		{"cookie", req(http.Header{"Cookie": {"tok=abc"}}, "/rt/sse"), "abc", "cookie", ""},
		{"query, outside the hub's SSE endpoint", req(http.Header{"Accept": {"text/event-stream"}}, "/rt/sse?access_token=abc"), "", "", "no credentials"},
		{"nothing", req(nil, "/rt/sse"), "", "", "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, from, err := src.Token(tt.r)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Token: %q, %v; want an error saying %q", tok, err, tt.err)
				}
				return
			}
			if err != nil || tok != tt.tok || from != tt.from {
				t.Fatalf("Token: %q from %q, %v; want %q from %q", tok, from, err, tt.tok, tt.from)
			}
		})
	}
}
