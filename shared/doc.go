// Package shared is the part of Duet that both ends speak: the message
// envelope, the WebSocket protocol frames and their JSON and binary codecs,
// event ids, close codes with their meaning, channel and event naming rules,
// the WHATWG server-sent events parser and the reconnect backoff policy.
// PROTOCOL.md, beside it, is the authority on the wire.
//
// It imports only the standard library and builds for linux and js/wasm, so
// the server and the browser client run the very same code. It is not a
// client or a server: it holds no connections and starts no goroutines.
// Keep it small: every byte here ships in the browser module.
//
// Files:
//
//	frame.go        Envelope and Frame, the frame types, gap reasons
//	frame_codec.go  the JSON form of frames and envelopes: DecodeFrame, AppendFrame...
//	binary.go       binary frames for raw-byte messages, and base64 data in JSON
//	json.go         the small JSON scanner: ValidJSON and the decoding of values
//	json_append.go  writing JSON values: AppendJSONString, compacted raw data
//	id.go           event ids: ID, ParseID, their order
//	codes.go        close and error codes, and whether each means reconnect or stop
//	names.go        the naming rules for channels and events
//	bearer.go       the WebSocket subprotocol that carries a bearer token
//	sse_parser.go   SSEParser, the WHATWG event stream parser
//	backoff.go      Backoff and Retrier: delays with jitter between reconnects
//	assert/         the project's test assertion helper (tests only)
//	testdata/fuzz/  the committed fuzz corpora
package shared
