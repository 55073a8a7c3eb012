package shared

// BearerProtocolPrefix starts the WebSocket subprotocol that carries a
// bearer token from a browser, which cannot set headers on a WebSocket: the
// client offers [Protocol] and BearerProtocolPrefix + the token in unpadded
// base64url, and the server selects [Protocol] only (the token is never
// echoed).
const BearerProtocolPrefix = "duet.bearer."

// BearerProtocol returns the subprotocol that carries token.
func BearerProtocol(token string) string {
	return string(appendBase64URL([]byte(BearerProtocolPrefix), token))
}

// appendBase64URL appends s in unpadded base64url (RFC 4648 §5). Written
// out rather than taken from encoding/base64 to keep the browser build
// small.
func appendBase64URL(dst []byte, s string) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(s); i += 3 {
		var v uint32
		n := min(len(s)-i, 3)
		for j := range 3 {
			v <<= 8
			if j < n {
				v |= uint32(s[i+j])
			}
		}
		for j := range n + 1 {
			dst = append(dst, alphabet[v>>(18-6*j)&63])
		}
	}
	return dst
}
