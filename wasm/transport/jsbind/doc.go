// Package jsbind binds package transport to the browser: it is
// Duet.connect. It holds no policy; it turns JavaScript options into a
// transport.Client, browser objects (WebSocket, fetch, BroadcastChannel, Web
// Locks, page and network events; through wasm/internal/js) into the
// client's events, and the client's observer calls into JavaScript
// callbacks. wasm/cmd/duet registers Connect; web/client/static/duet.js exposes it.
//
// The JavaScript API it registers (Duet.connect, its options, the
// connection object's methods and properties, the handlers' arguments) is
// documented once, in web/client/static/duet.d.ts: a change to what this package
// registers changes that file too.
//
// It is not the place for connection policy (reconnecting, resuming, wire
// choice, sharing between tabs: package transport) nor for the browser
// objects' own wrappers (wasm/internal/js). The files:
//
//   - jsbind.go: Connect, the options object parsed into transport.Options,
//     the tab's lock and the bus between tabs.
//   - dialer.go: transport.Dialer over WebSocket and fetch, with the
//     credentials (headers, token, params) every request carries.
//   - object.go: the JavaScript connection object: its methods and
//     properties, and the observer that calls the handlers.
//
// It builds only for GOOS=js GOARCH=wasm; elsewhere it is this comment.
package jsbind
