package shared

import "encoding/base64"

// BearerProtocolPrefix starts the WebSocket subprotocol that carries a
// bearer token from a browser, which cannot set headers on a WebSocket: the
// client offers [Protocol] and BearerProtocolPrefix + the token in unpadded
// base64url, and the server selects [Protocol] only (the token is never
// echoed).
const BearerProtocolPrefix = "duet.bearer."

// BearerProtocol returns the subprotocol that carries token.
func BearerProtocol(token string) string {
	return string(base64.RawURLEncoding.AppendEncode([]byte(BearerProtocolPrefix), []byte(token)))
}
