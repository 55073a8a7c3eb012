// Package jsbind binds package transport to the browser: it is
// Duet.connect. It holds no policy; it turns JavaScript options into a
// transport.Client, browser objects (WebSocket, fetch, BroadcastChannel, Web
// Locks, page and network events; through wasm/internal/js) into the
// client's events, and the client's observer calls into JavaScript
// callbacks. wasm/cmd/duet registers Connect; web/static/duet.js exposes it.
//
// # JavaScript API
//
//	const conn = Duet.connect(baseURL, options?)
//
// baseURL is where the server's /rt/ endpoints hang, resolved against the
// page: "/" (or "") for the page's own origin, "https://rt.example.com",
// "/app/". options, all optional:
//
//	{
//	  transport: "auto" | "websocket" | "sse",  // default "auto": WebSocket, or SSE (+ POST to publish)
//	                                  // when WebSocket cannot open; WebSocket is tried again later
//	  channels: ["a", "b"],           // subscribed from the start, with no handler (see on("message"))
//	  lastEventId: "ID",              // resume after this id
//	  headers: {…} | () => {…} | async () => {…},  // sent with the SSE request and publish POSTs; a
//	                                  // function is called again when the server asks for fresh
//	                                  // credentials (close code 4401), before reconnecting
//	  token: "…" | () => "…" | async () => "…",  // bearer token, the function called before every
//	                                  // connection attempt; sent as Authorization: Bearer on SSE and
//	                                  // POSTs, as the subprotocol duet.bearer.<base64url> on WebSocket.
//	                                  // A 4401 close (token expired) reconnects with a fresh one and
//	                                  // resumes; a POST refused with 401 is sent once more
//	  params: {…} | () => {…} | async () => {…},   // query parameters added to every request, the
//	                                  // WebSocket's included; refreshed like headers
//	  withCredentials: false,         // send cookies cross-origin (fetch credentials "include")
//	  backoff: {initialMs: 500, maxMs: 30000, multiplier: 2, resetAfterMs: 10000},  // full jitter
//	  heartbeatTimeout: ms,           // silence that means a dead connection; default 2.5 × the
//	                                  // server's heartbeat (15 s → 37.5 s)
//	  connectTimeout: 10000,          // ms from dialing to the server's hello
//	  publishTimeout: 30000,          // ms from publish() to the ack, waiting for a connection included
//	  wsRetryAfter: 60000,            // auto, on SSE after WebSocket failed: ms before trying WebSocket
//	                                  // again beside SSE (doubling on each failure, 32× at most)
//	  shared: true,                   // one connection for every tab of the origin (default: true where
//	                                  // BroadcastChannel and navigator.locks exist). The tab holding the
//	                                  // lock "duet:"+baseURL connects, with its own options, for all.
//	}
//
// The connection object (methods that refuse their arguments throw a
// TypeError; duet.js turns the throw markers of wasm/internal/js into
// exceptions):
//
//	conn.subscribe(channel, handler?) → unsubscribe()     // handler(message) for channel
//	conn.unsubscribe(channel, handler?)                    // without handler: all of channel's
//	conn.publish(channel, data, {event}?) → Promise<{id}>  // settled by the server's ack; rejects with
//	                                                       // an Error {name: "DuetError", code, message}
//	conn.on("state" | "message" | "gap" | "error", handler) → off()
//	conn.off(type, handler)
//	conn.close()
//	conn.state        // "connecting" | "open" | "reconnecting" | "closed"
//	conn.transport    // "websocket" | "sse" | "" — the wire in use (by this tab or the leading one)
//	conn.lastEventId  // the id of the last message this tab received, "" for none
//	conn.channels     // this tab's channels, sorted
//	conn.leader       // whether this tab holds the connection (always, unless shared)
//	conn.shared       // whether the connection is shared between tabs
//
// Handlers:
//
//	message: handler({id, channel, event, data, ts})      // data: the published JSON value
//	state:   handler(state, transport)
//	gap:     handler({channels, lastEventId, id, reason}) // reason "expired" | "restarted"; messages
//	                                                       // of channels after lastEventId are lost
//	error:   handler(err)  // Error {name: "DuetError", code, message, fatal}; fatal: state is "closed"
//
// Messages reach each tab once, in id order, across reconnections, server
// restarts (announced by a gap), switches of wire and changes of leading
// tab. A handler that throws is reported on the console and harms nothing
// else. A publish is at most once: one whose ack was lost with its
// connection rejects with code 1006 rather than being sent again.
//
// It builds only for GOOS=js GOARCH=wasm; elsewhere it is this comment.
package jsbind
