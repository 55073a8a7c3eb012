// Package eventsource is the engine of Duet's EventSource polyfill: the
// WHATWG EventSource connection rules as a pure Go state machine. It
// decides when the ready state changes, when to dispatch open, message and
// error, when to reconnect and after how long, when to fail for good, and
// what each request carries (Accept, Last-Event-ID, and the polyfill's
// extras: headers refreshed on every attempt, method and body, backoff with
// jitter, a heartbeat watchdog).
//
// The network is behind the Dialer interface and the events go to a
// Handler, so the package runs anywhere: tests drive it on linux against
// httptest servers, and the browser build (the files ending in _js.go)
// plugs in fetch and exposes it to the JavaScript EventSource class that
// Duet's loader defines. Parsing is shared.SSEParser's job.
//
// It is not an SSE client library for Go servers (use a Dialer of your
// own if you must) and it does not know Duet's envelope or control events:
// it is the plain EventSource, message for message.
//
// The files: source.go, the state machine (Source, its Options, the Dialer
// and Handler it runs on, its errors); bind_js.go, the browser binding
// (fetchDialer, the init object parsed into Options, the calls the
// JavaScript class makes).
package eventsource
