// Package server is the Duet server library: a Hub that streams one message
// model over Server-Sent Events and WebSocket, with exact resume from an event
// id on either wire, heartbeats and write deadlines that find dead clients,
// and bounded per-connection queues that cut off slow consumers instead of
// slowing everyone else.
//
// Embed a Hub in any Go program: mount Hub.Handler (or the individual
// handlers) and publish with Hub.Publish or POST /rt/publish. Messages flow
// through a Broker; the in-memory broker is the default, and other brokers
// (NATS JetStream) let many nodes share one id sequence.
//
// Who may do what is Config.Authenticate's (an Identity per request; package
// server/auth has session cookies and JWTs) and Config.Authorize's (per
// channel, on subscribe, resume and publish); connections are closed with
// 4401 when their credentials expire, and publishes are rate limited.
//
// The wire protocol is documented in shared/PROTOCOL.md. This package is not
// a client: the browser client lives in wasm/, and Go programs can read the
// streams with any SSE or WebSocket client.
package server
