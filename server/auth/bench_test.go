package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/golang-jwt/jwt/v5"
)

// The cost of authenticating one request (a connection, or a POST), by
// key type.
func BenchmarkJWTAuthenticate(b *testing.B) {
	testKeys(b)
	for _, bc := range []struct {
		name   string
		cfg    auth.JWTConfig
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", auth.JWTConfig{HS256Secret: hsSecret}, jwt.SigningMethodHS256, hsSecret},
		{"RS256", auth.JWTConfig{PublicKeyFile: writePEM(b, &rsaKey.PublicKey)}, jwt.SigningMethodRS256, rsaKey},
		{"ES256", auth.JWTConfig{PublicKeyFile: writePEM(b, &ecKey.PublicKey)}, jwt.SigningMethodES256, ecKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := mustJWT(b, bc.cfg)
			r := httptest.NewRequest(http.MethodGet, "/rt/sse?channel=a", nil)
			r.Header.Set("Authorization", "Bearer "+sign(b, bc.method, bc.key, "", claims("alice", time.Hour)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSessionAuthenticate(b *testing.B) {
	s := mustSessions(b, auth.SessionConfig{Keys: [][]byte{sessionKey1}})
	v, err := s.Encode(server.Identity{Subject: "alice", Subscribe: []string{"user:{sub}"}})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/rt/sse?channel=a", nil)
	r.AddCookie(&http.Cookie{Name: s.CookieName(), Value: v})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}
