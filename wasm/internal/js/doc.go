// Package js is Duet's thin, typed layer over syscall/js: the few browser
// objects the client needs (fetch with a streaming body, WebSocket,
// BroadcastChannel, Web Locks, page visibility, online state, timers),
// promises turned into blocking calls that honour a context, event
// listeners that clean up after themselves, and JavaScript exceptions turned
// into Go errors.
//
// It is not a general binding: it wraps what Duet uses and no more, and it
// holds no policy (no reconnects, no parsing); the state machines that do
// live in ordinary packages tested with plain go test.
//
// It builds only for GOOS=js GOARCH=wasm. Its name clashes with syscall/js
// on purpose of symmetry; the common syscall/js names are re-exported
// (Value, Func, Global, ValueOf…) so a file can import this package alone.
// When both are needed, import this one as jsw.
//
// The files, one per browser object or mechanism: value_js.go (the
// re-exported names, property and argument helpers, bytes), error_js.go
// (exceptions as errors, TypeErrors, throw markers), promise_js.go
// (promises as blocking calls, deferreds), event_js.go (listeners that
// return their remove func), timer_js.go, fetch_js.go, websocket_js.go,
// broadcast_js.go (BroadcastChannel), locks_js.go (Web Locks), page_js.go
// (visibility and online state), mark_js.go (User Timing marks), bytestring_js.go (header values
// between Go's bytes and JavaScript's ByteStrings).
//
// # Threading rules
//
// Go code called from JavaScript (a js.Func, an event listener given to
// AddEventListener, a timer callback) runs on the JavaScript event loop and
// must not block: a blocked callback blocks the page. Everything in this
// package that waits (Await, Fetch, Response.Read, DialWebSocket,
// RequestLock) must therefore be called from a goroutine of your own, never
// from inside a callback.
package js
