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
// server/auth has session cookies and JWTs) and Config.Authorize's (a
// Permission per channel, on subscribe, resume and publish); connections are
// closed with 4401 when their credentials expire, and publishes are rate
// limited.
//
// The wire protocol is documented in shared/PROTOCOL.md. This package is not
// a client: the browser client lives in wasm/, and Go programs can read the
// streams with any SSE or WebSocket client.
//
// # Files
//
// The hub and its setup:
//
//	hub.go            Hub: NewHub, Handler, Shutdown, the health endpoint
//	config.go         Config, every field's default
//	conns.go          the registry of live connections, ConnObserver, close notices
//	errors.go         how a refusal is written: protocolError, writeError, refuseMethod
//	control.go        server-side control: DisconnectClients, UnsubscribeClients, Broadcast, Channels, ControlBroker
//	handler_admin.go  the admin API under /rt/admin/ (Config.AdminKey)
//	httpserver.go     NewHTTPServer, an http.Server with internet-safe timeouts
//	metrics.go        the hub's counters and histograms: what is counted where
//	metrics_collector.go  Hub.Collector (client_golang) and Hub.MetricsHandler
//	metrics_histogram.go  histograms in plain atomics, filled a batch at a time
//
// Who may connect and publish, and how much:
//
//	auth.go           Identity, Permission, MatchChannel, CheckPattern, IsSSERequest, Hub.Check; authenticate, authorize, credential expiry
//	ratelimit.go      publish and subscribe rate limits per connection and per identity
//	cors.go           CORS, the cross-origin publish check, WebSocket origins
//	connlimit.go      connection limits in all and per client address
//
// Messages and brokers:
//
//	message.go        Message, NewMessage, NewBinaryMessage: encoded once for both wires
//	publish.go        every way to publish: Hub.Publish*, POST /rt/publish, WebSocket frames
//	idempotency.go    idempotent publish: WithIdempotencyKey, IdempotentBroker
//	history.go        history for clients: Hub.History, HistoryQuery, HistoryPage, HistoryBroker
//	broker.go         the Broker, BinaryBroker and Subscriber interfaces, Resume, Gap
//	broker_memory.go  MemoryBroker, the in-process default
//	broker_memory_bounds.go  its bounds on tracked channels and history bytes
//	broker_memory_replay.go  its resume: a bounded replay merged outside the lock
//	broker_memory_idempotency.go  its idempotency keys (PublishOnce)
//	broker_memory_history.go      its pages of history (History)
//
// Presence:
//
//	presence.go         PresenceStore, PresenceEntry, the hub's joins, leaves and join/leave events
//	presence_memory.go  MemoryPresence, the in-process store
//	handler_presence.go GET /rt/presence and the WebSocket presence frames
//
// The wires:
//
//	wire.go           what both wires share: request parsing, hello and gap frames, write buffers and deadlines
//	outbox.go         a connection's bounded queue
//	heartbeat.go      one heartbeat wheel for all connections
//	hijack.go         taking connections over from net/http
//	conn_reset.go     resetting a connection the server gave up on (linger 0)
//	handler_sse.go    GET /rt/sse
//	handler_history.go  GET /rt/history and the WebSocket history frame
//	sse_write.go      SSE event batches and the in-handler stream
//	sse_conn.go       the hijacked HTTP/1.1 SSE stream
//	handler_ws.go     GET /rt/ws: a WebSocket connection's life, idle close
//	ws_read.go        the client's frames and what they do
//	ws_write.go       writing frame batches, pings
//	ws_wire.go        the hijacked socket data frames are written to
package server
