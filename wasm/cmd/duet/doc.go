// Command duet is Duet's browser client: the program compiled to
// WebAssembly (GOOS=js GOARCH=wasm) that web/client/static/duet.js loads. It
// registers the JavaScript API on globalThis.__duet, hands it to the
// loader, and then lives as long as the page, serving calls.
//
// It is not meant to be run any other way; built for another platform it
// only says so.
//
// Build it with go tool task wasm. The files: main_js.go, the program;
// main_other.go, the message every other platform gets.
package main
