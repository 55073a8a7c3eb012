package shared

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestBearerProtocol(t *testing.T) {
	// Every length modulo 3, and bytes that need the URL alphabet.
	for _, tok := range []string{"", "a", "ab", "abc", "abcd", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "\xfb\xff\xfe>?", strings.Repeat("x", 1000)} {
		p := BearerProtocol(tok)
		want := BearerProtocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(tok))
		if p != want {
			t.Fatalf("BearerProtocol(%q) = %q, want %q", tok, p, want)
		}
		// A subprotocol must be an HTTP token.
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				t.Fatalf("BearerProtocol(%q) = %q: %q is not allowed in a subprotocol", tok, p, c)
			}
		}
	}
}

func FuzzBearerProtocol(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.sig")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, tok string) {
		if got, want := BearerProtocol(tok), BearerProtocolPrefix+base64.RawURLEncoding.EncodeToString([]byte(tok)); got != want {
			t.Fatalf("BearerProtocol(%q) = %q, want %q", tok, got, want)
		}
	})
}
