// Package web is Duet's demo UI: templ components and pages, and the static
// assets (the JavaScript loader, its TypeScript declarations, CSS, each
// page's small ES module, the browser module and wasm_exec.js) embedded at
// build time.
//
// It is a consumer of the server library, not part of it: pages take plain
// data and talk to the realtime endpoints through the browser client. The
// pages' server side (chat rooms, notifications, the ticker, the transport
// lab's faults) is package web/demo, which reaches the hub only through a
// small interface.
package web
