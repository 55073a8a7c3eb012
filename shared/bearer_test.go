package shared

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestBearerProtocolIsAValidToken(t *testing.T) {
	// A subprotocol must be an HTTP token: base64url without padding is.
	p := BearerProtocol("eyJhbGciOiJIUzI1NiJ9.e30.sig+/=")
	if !strings.HasPrefix(p, BearerProtocolPrefix) {
		t.Fatalf("BearerProtocol = %q: no prefix", p)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			t.Fatalf("BearerProtocol = %q: character %q is not allowed in a subprotocol", p, c)
		}
	}
	got, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(p, BearerProtocolPrefix))
	if err != nil || string(got) != "eyJhbGciOiJIUzI1NiJ9.e30.sig+/=" {
		t.Fatalf("decoded %q, %v", got, err)
	}
}
