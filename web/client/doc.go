// Package client serves Duet's browser client over HTTP: the ES module
// loader /duet.js, the WebAssembly module under a content-hashed name with
// its brotli and gzip copies, the wasm_exec.js that matches it, and the
// TypeScript declarations duet.d.ts. An application that embeds Duet mounts
// [Assets] (or [AssetsWith], to serve its own static files beside it) and
// its pages import /duet.js.
//
// It is not the client itself, which is the Go program in wasm/ built into
// static/duet.wasm by go tool task wasm, and not the demo: it imports
// neither package web nor web/demo, so serving the client links no page.
//
// Files:
//
//	assets.go   Assets and AssetsWith: the handler, the content hashing, the
//	            Accept-Encoding negotiation and the cache headers
//	static/     the embedded files: duet.js (the loader), duet.d.ts, and the
//	            built duet.wasm, .br, .gz and wasm_exec.js (ignored by git;
//	            the committed *.placeholder files keep go:embed compiling)
package client
