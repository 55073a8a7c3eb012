// Package web is Duet's demo UI: templ components and pages, and the static
// assets (the JavaScript loader, its TypeScript declarations, CSS, the
// browser module and wasm_exec.js) embedded at build time.
//
// It is a consumer of the server library, not part of it: pages take plain
// data and talk to the realtime endpoints through the browser client.
package web
