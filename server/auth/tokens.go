package auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// ErrNoCredentials is the error of a hook that found no credentials of its
// kind in a request; [Any] then tries the next hook. The hub refuses such a
// request with 4401.
var ErrNoCredentials = errors.New("duet/auth: no credentials")

// TokenSources says where a bearer token may travel besides the
// Authorization header ("Authorization: Bearer <token>") and the WebSocket
// subprotocol list (shared.BearerProtocolPrefix + base64url(token)), which
// are always read. The zero value reads only those two.
type TokenSources struct {
	// Cookie is the name of a cookie holding the token. Empty: none.
	Cookie string
	// QueryParam is the name of a query parameter holding the token, for
	// a native EventSource, which can set neither headers nor subprotocols.
	// It is read only on the hub's SSE endpoint (server.IsSSERequest), so
	// it never authenticates a WebSocket or a publish, whatever their
	// headers. Empty (the default) disables it: URLs end up in logs and
	// histories, so prefer short-lived tokens there.
	QueryParam string
}

// Token returns the token of r and where it was found ("header",
// "websocket", "cookie", "query"), or ErrNoCredentials. A malformed
// Authorization header or subprotocol is an error, not an absence.
func (s *TokenSources) Token(r *http.Request) (token, from string, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", "", errors.New(`duet/auth: the Authorization header must be "Bearer <token>"`)
		}
		return strings.TrimSpace(tok), "header", nil
	}
	if tok, ok, err := WebSocketToken(r); ok || err != nil {
		return tok, "websocket", err
	}
	if s != nil && s.Cookie != "" {
		if c, err := r.Cookie(s.Cookie); err == nil && c.Value != "" {
			return c.Value, "cookie", nil
		}
	}
	if s != nil && s.QueryParam != "" && server.IsSSERequest(r) {
		if tok := r.URL.Query().Get(s.QueryParam); tok != "" {
			return tok, "query", nil
		}
	}
	return "", "", ErrNoCredentials
}

// WebSocketToken returns the token a WebSocket handshake carries in its
// subprotocol list (shared.BearerProtocolPrefix followed by the token in
// unpadded base64url), and whether there was one.
func WebSocketToken(r *http.Request) (string, bool, error) {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			p = strings.TrimSpace(p)
			enc, ok := strings.CutPrefix(p, shared.BearerProtocolPrefix)
			if !ok {
				continue
			}
			// Strict: one token has one encoding (no stray trailing bits,
			// no line breaks, which Go's decoder skips), the one the
			// client's BearerProtocol writes.
			tok, err := base64.RawURLEncoding.Strict().DecodeString(enc)
			if err != nil || len(tok) == 0 || strings.ContainsAny(enc, "\r\n") {
				return "", true, errors.New("duet/auth: the " + shared.BearerProtocolPrefix + "* subprotocol must carry the token in unpadded base64url")
			}
			return string(tok), true, nil
		}
	}
	return "", false, nil
}

// Any returns a hook that tries each hook in turn and returns the first
// identity found. A hook that finds no credentials of its kind
// (ErrNoCredentials) passes to the next; any other error refuses the
// request at once, so a bad token is never silently treated as none. When
// no hook finds credentials, the request is refused with 4401.
func Any(hooks ...func(*http.Request) (server.Identity, error)) func(*http.Request) (server.Identity, error) {
	return func(r *http.Request) (server.Identity, error) {
		for _, h := range hooks {
			id, err := h(r)
			if errors.Is(err, ErrNoCredentials) {
				continue
			}
			return id, err
		}
		return server.Identity{}, shared.NewError(shared.CodeUnauthorized, "no credentials: send a bearer token or a session cookie")
	}
}

// AllowAnonymous returns a hook that accepts every request as an anonymous
// identity (no subject, no expiry) with these channel patterns. Put it last
// in [Any] to let visitors without credentials in, with less rights.
func AllowAnonymous(subscribe, publish []string) func(*http.Request) (server.Identity, error) {
	return func(*http.Request) (server.Identity, error) {
		return server.Identity{Subscribe: subscribe, Publish: publish}, nil
	}
}
