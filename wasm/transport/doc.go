// Package transport is the browser client's unified realtime connection: one
// reconnecting, resuming connection that speaks either of Duet's wires
// (WebSocket, or server-sent events plus HTTP POST), shared by every tab of
// an origin.
//
// It is pure Go, built and tested with plain go test on any platform: the
// browser objects it needs stay behind small interfaces ([Dialer], [Wire],
// [Clock], [Bus]) that package jsbind implements with syscall/js, and that
// the tests implement with fakes. The parts:
//
//   - [Conn]: the connection state machine. Driven by events (a wire
//     opened, bytes arrived, the wire closed with a code, a timer fired, the
//     browser came online, the page became visible), it picks the wire
//     (WebSocket first in auto mode, SSE when WebSocket cannot open), backs
//     off with [shared.Retrier], acts on close codes by [shared.Code.Action],
//     watches server heartbeats, and resumes from the last id it saw.
//   - [Cursor]: resume and deduplication by event id.
//   - [Client]: what Duet.connect returns. It holds one tab's
//     subscriptions and, in shared mode, elects one tab as leader (the lock is
//     taken by the binding), which alone runs a [Conn] carrying the union of
//     all tabs' channels and relays messages, state and publish acks to the
//     others over a [Bus] (a BroadcastChannel in the browser).
//
// Binary messages (PROTOCOL.md §1.3, §4.6): a Conn publishes bytes as a
// binary WebSocket frame, or on SSE as a POST with base64 data; it receives
// them as binary frames on WebSocket and as base64 envelopes on SSE, and
// hands both to the Observer as an Envelope with Binary set.
//
// It is not a server client for Go programs (it has no network code of its
// own), and it does not parse SSE itself: [shared.SSEParser] does.
//
// The files, by role:
//
//   - wire.go: the vocabulary (Kind, Mode, State, Gap) and the interfaces
//     the platform implements (Wire, WireEvents, Dialer, Clock, Observer).
//   - session.go: what a Conn and a Client share: constructor, state as
//     told to the observer, gap de-duplication, request refs.
//   - conn.go: Conn, its Options and Env, and its life: start, accessors,
//     close.
//   - attempt.go: one dialed wire: dialing, attaching, dropping, sending,
//     going live, the connect timeout.
//   - read.go: what comes off a wire: WebSocket text and binary frames,
//     SSE events, and acting on each frame.
//   - auto.go: auto mode's wire choice and the WebSocket probe beside SSE.
//   - reconnect.go: the end of an attempt, backoff and credential refresh,
//     the heartbeat watchdog, and the page's online and visibility events.
//   - channels.go: the channel set and its changes on either wire.
//   - publish.go: the publish pipeline: checks, queue, WebSocket frame or
//     POST, acks, timeouts.
//   - client.go: Client: one tab's subscriptions and publishes.
//   - leader.go: the Client's leading and following: the election's
//     outcome, the relay to and from the other tabs.
//   - presence.go: presence (PROTOCOL.md §9): the client id, presence
//     reads (a frame on a live WebSocket, else GET /rt/presence through the
//     [Dialer]), join and leave events for a [PresenceObserver], relayed
//     to the other tabs by the leader.
//   - suspend.go: the Client stepping aside while its page is in the
//     back/forward cache, and resuming when it comes back.
//   - bus.go: the bus between tabs and its message format.
//   - cursor.go: Cursor. url.go: Endpoints, and the HTTP bodies and codes.
//     serial.go: the lock with an outbox. set.go: small sorted sets.
//
// Errors carry the package prefix and their cause on one line,
// "duet/transport: doing x: " + err.Error(), mostly inside a *shared.Error
// whose code is what JavaScript acts on. Package fmt is kept out of the
// wasm build on purpose: fmt.Errorf would add about 113 KB to the gzipped
// module (over its 1 MB budget), and nothing unwraps these errors: what
// crosses to JavaScript is a code and a message.
//
// Nothing here starts a goroutine. Every type is safe for concurrent use,
// but never calls out (to a Wire, a Dialer, an Observer) while holding its
// lock, so callbacks may call back in.
package transport
