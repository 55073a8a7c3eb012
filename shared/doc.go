// Package shared is the part of Duet that both ends speak: the message
// envelope, the WebSocket protocol frames and their JSON codec, event ids,
// close codes with their meaning, the WHATWG server-sent events parser and the
// reconnect backoff policy.
//
// It imports only the standard library and builds for linux and js/wasm, so
// the server and the browser client run the very same code. It is not a
// client or a server: it holds no connections and starts no goroutines.
// Keep it small: every byte here ships in the browser module.
package shared
