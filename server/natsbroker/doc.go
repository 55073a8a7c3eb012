// Package natsbroker is a Duet broker over NATS JetStream: many Duet nodes
// share one stream, so they share one id sequence, one history and one
// publish order. A client resumes on any node, on either wire, with the id it
// got from another.
//
// Every channel is a subject under a prefix ("duet.ch.<channel>", '.' and '='
// escaped) of one stream ("DUET"). Ids are "<epoch>-<seq>": seq is the
// stream sequence, epoch the stream's creation time in Unix milliseconds, so
// ids stay valid across node and NATS restarts and a re-created stream starts
// a new epoch. History limits are the stream's: Config.HistorySize is
// MaxMsgsPerSubject, HistoryTTL is MaxAge and HistoryBytes is MaxBytes.
//
// # Live feed and replay
//
// Each node runs one live feed: a single JetStream consumer on all channel
// subjects that delivers, in stream order, into a local fan-out like the
// in-memory broker's. Clients never get a consumer of their own. A Subscribe
// that resumes reads the missed messages with a short-lived, filtered
// consumer that stops at the position the live feed had reached when the
// subscriber was attached; live messages of those channels that arrive
// meanwhile wait in a bounded per-subscriber buffer and follow the replay.
// When that buffer overflows, it is dropped and the range is read from the
// stream again, so a busy channel costs another read, never a lost or
// repeated message. A replay reads at most Config.MaxReplay messages; past
// it the subscriber is told where to continue (server.Resume.Continue).
//
// When the node loses NATS its clients stay connected, Healthy reports the
// outage (so /rt/healthz answers 503), Publish and resuming Subscribe fail
// with shared.CodeBrokerUnavailable (the hub answers an SSE resume then
// with a 200 telling the client to retry, so a native EventSource comes
// back), and nothing is buffered in the node.
// When NATS is back the live feed starts again right after the last message
// it delivered: the stream, not the node, holds what was published meanwhile.
//
// # Gap detection
//
// A resume reports a gap notice when messages after the client's id are no
// longer in the stream. JetStream does not say which channel a removed
// message belonged to, so the broker reasons from what it can see (the
// stream is created with DenyDelete and DenyPurge, so messages only leave it
// by its limits, each channel's oldest first):
//
//   - exact, no gap: nothing after the id left the stream (its first sequence
//     is not past the id and it has no interior holes); or the channel still
//     holds a message at or before the id, or the very next one; or the
//     channel never filled its per-channel limit (the lowest the stream ever
//     had, kept in its metadata) and the stream's first sequence is not past
//     the id;
//   - conservative, gap: otherwise. A channel may then be reported although
//     the removed messages were all of other channels (typically a quiet
//     channel resumed from an id older than the whole stream). That is loud,
//     never lossy, like the in-memory broker's notice for channels it no
//     longer tracks.
//
// An id of another epoch gets a "restarted" gap and the channels' whole
// retained history; an id past the stream's last sequence is refused with
// server.ErrFutureID (checked against the stream itself, so it is exact).
//
// # Presence
//
// Broker.PresenceStore is a cluster-wide server.PresenceStore over core NATS
// (no JetStream). Each node owns its own clients' entries and keeps a
// replica of every other node's in memory:
//
//   - a node publishes every change of its entries as a numbered delta on
//     "<PresenceSubject>.ev", and a heartbeat carrying its last number every
//     PresenceHeartbeat (3s);
//   - a node that hears of a node it has no replica of, or sees a number
//     skipped (a lost delta), asks that node for its entries on
//     "<PresenceSubject>.sync.<node>" and replaces its replica with the
//     answer, emitting the joins and leaves the difference makes;
//   - a node not heard of for PresenceTimeout (10s) is taken for dead: its
//     entries leave on every other node, with leave events. A client of a
//     node killed without a goodbye (SIGKILL, a lost machine) thus leaves
//     within PresenceTimeout + PresenceHeartbeat, 13s by default (measured:
//     about 12s). A node that closes says goodbye and its clients leave at
//     once; a node cut off from NATS sees its peers' clients leave and
//     rejoin when it is back.
//
// Reads are local: Presence and PresenceStats never wait on the network,
// and PresenceStats is O(1) (per-channel counts of clients and of clients
// per user). The bounds (server.Config.MaxPresenceClients and
// MaxPresenceEntries) apply to the cluster's entries as the joining node
// knows them.
//
// Why not JetStream KV with per-key TTLs: every client would have to
// refresh its key before the TTL (a write to a replicated, persisted
// stream per client per interval: the cost centrifuge's Redis presence
// pays, and tunes with batching); a leave event for an expired key needs
// delete markers (SubjectDeleteMarkerTTL, NATS 2.11+) and a watcher on
// every node; counting a channel's users needs a scan or a second bucket.
// Presence is soft state that dies with its node, so per-node heartbeated
// state fits it: traffic is one small message per join or leave plus one
// heartbeat per node, nothing is written to disk, and a dead node is
// detected once, by its silence, for all its clients together.
//
// # History and idempotent publish
//
// History (server.HistoryBroker) reads pages of a channel with the same
// short-lived filtered consumers as a resume, never a long-lived one per
// request: forward with one bounded read; backward in windows of stream
// sequences that double until the page is full (JetStream reads only
// forward). Its Complete flag comes from the gap detection above, so it is
// conservative in the same way.
//
// PublishOnce (server.IdempotentBroker) uses JetStream's de-duplication:
// the message's Nats-Msg-Id is "<channel> <key>", and the stream's
// duplicate window (Config.IdempotencyWindow) makes a repeat on any node
// come back acknowledged with the first message's sequence, stored once.
// This closes the "stored twice after a lost acknowledgement" hole of a
// plain publish, for publishers that send a key.
//
// # Server-side control
//
// The broker is a server.ControlBroker: a disconnect or unsubscribe issued
// on one node's hub is published on the core NATS subject
// "duet.control.<stream>" (not stored) and applied by every other node's
// hub to its own connections as soon as it arrives. A node cut off from
// NATS at that moment misses it.
//
// This package does not run NATS: point it at a NATS server (2.10 or later)
// with JetStream enabled. All nodes of one deployment must use the same
// stream settings; the last node to start applies its own.
package natsbroker
