package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzBearerSubprotocol: a WebSocket handshake's Sec-WebSocket-Protocol
// header comes from the network and may carry a token
// (duet.bearer.<base64url>). No header may panic the parser; a token it
// returns must be the one an offered duet.bearer.* entry encodes; and a
// token placed in the list by the browser client's encoding is found
// again exactly.
func FuzzBearerSubprotocol(f *testing.F) {
	f.Add("duet.v1, "+shared.BearerProtocol("eyJhbGciOiJIUzI1NiJ9.e30.sig"), "tok")
	f.Add("duet.v1", "")
	f.Add(shared.BearerProtocolPrefix, "a")
	f.Add(shared.BearerProtocolPrefix+"!!, duet.v1", "\x00\xff")
	f.Add(" ,,"+shared.BearerProtocolPrefix+"YQ==", "é")
	f.Fuzz(func(t *testing.T, header, tok string) {
		r := httptest.NewRequest("GET", "/rt/ws", nil)
		r.Header.Set("Sec-WebSocket-Protocol", header)
		got, ok, err := auth.WebSocketToken(r)
		if !ok && (got != "" || err != nil) {
			t.Fatalf("%q: no token, yet %q, %v", header, got, err)
		}
		if ok && err == nil {
			if got == "" {
				t.Fatalf("%q: an empty token accepted", header)
			}
			if !strings.Contains(header, shared.BearerProtocol(got)) {
				t.Fatalf("%q: token %q is not the one an offered subprotocol encodes", header, got)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "duet/auth: ") {
			t.Fatalf("%q: error %q lacks the package prefix", header, err)
		}

		// The client's encoding round-trips, whatever surrounds it.
		if tok == "" {
			return
		}
		r.Header.Set("Sec-WebSocket-Protocol", "duet.v1, "+shared.BearerProtocol(tok))
		if got, ok, err := auth.WebSocketToken(r); !ok || err != nil || got != tok {
			t.Fatalf("token %q sent as %q: got %q, %v, %v", tok, shared.BearerProtocol(tok), got, ok, err)
		}
	})
}

// FuzzJWT: bearer tokens come from the network. None may panic the
// verifier, and any token it accepts must be an HS256 token whose
// signature is the HMAC of its header and payload under the secret, for
// the configured audience, not expired.
func FuzzJWT(f *testing.F) {
	j := mustJWT(f, auth.JWTConfig{HS256Secret: hsSecret})
	good := sign(f, jwt.SigningMethodHS256, hsSecret, "", claims("alice", time.Hour))
	f.Add(good)
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("another secret, as long as the first one"), "", claims("alice", time.Hour)))
	f.Add(sign(f, jwt.SigningMethodHS256, hsSecret, "", claims("alice", -time.Minute)))
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims("alice", time.Hour)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(none)
	h, p, _ := strings.Cut(good, ".")
	f.Add(h + "." + p + ".")
	f.Add("..")
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := j.Verify(nil, tok)
		if err != nil {
			if code, _ := shared.ErrorCode(err); code != shared.CodeUnauthorized {
				t.Fatalf("%q refused with code %d, want 4401: %v", tok, code, err)
			}
			return
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("%q accepted as %+v with %d parts", tok, id, len(parts))
		}
		mac := hmac.New(sha256.New, hsSecret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("%q accepted as %+v without a valid HS256 signature", tok, id)
		}
		var header struct{ Alg string }
		if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &header) != nil || header.Alg != "HS256" {
			t.Fatalf("%q accepted as %+v with header alg %q", tok, id, header.Alg)
		}
		if !id.Expires.After(time.Now().Add(-time.Minute)) {
			t.Fatalf("%q accepted as %+v, expired", tok, id)
		}
	})
}
