package server

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/duet-rt/duet/shared"
)

// metrics are the hub's counters and histograms, exported by Hub.Collector
// (and at /metrics by Hub.MetricsHandler). They are plain atomics: the hot
// path must not pay for a metrics library. A writer adds a batch's
// observations with one atomic add per bucket it touched.
type metrics struct {
	sseConns, wsConns atomic.Int64
	sseTotal, wsTotal atomic.Int64
	published         atomic.Int64
	duplicates        atomic.Int64 // keyed publishes answered with the first one's id
	sseDelivered      atomic.Int64
	wsDelivered       atomic.Int64
	slowConsumers     atomic.Int64
	heartbeatTimeouts atomic.Int64
	writeErrors       atomic.Int64
	badRequests       atomic.Int64
	authFailures      atomic.Int64
	forbidden         atomic.Int64
	rateLimited       atomic.Int64
	expiries          atomic.Int64

	resumesExact, resumesGap atomic.Int64
	brokerPublishErrors      atomic.Int64
	brokerSubscribeErrors    atomic.Int64

	// sseLatency and wsLatency are publish→write times in milliseconds,
	// one observation per message written.
	sseLatency, wsLatency *histogram
	// replayed is the messages of each resume, one observation per resume.
	replayed *histogram
	// queueDepth is how many items a connection's writer found queued, one
	// observation per pass of the writer.
	queueDepth *histogram
	// presenceEntries counts the presence entries of this node's
	// connections (a client listed in n channels counts n times).
	presenceEntries atomic.Int64
	// presenceSize is a channel's presence clients, one observation per
	// join, the joining client included.
	presenceSize *histogram
}

// Histogram buckets, in the observations' units.
var (
	latencyBucketsMs = []int64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
	replayBuckets    = []int64{0, 1, 10, 100, 1000, 10000, 100000}
	queueBuckets     = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}
	presenceBuckets  = []int64{1, 2, 5, 10, 100, 1000, 10000, 100000}
)

func (m *metrics) init() {
	m.sseLatency = newTallied(latencyBucketsMs...)
	m.wsLatency = newTallied(latencyBucketsMs...)
	m.replayed = newHistogram(replayBuckets...)
	m.queueDepth = newHistogram(queueBuckets...)
	m.presenceSize = newHistogram(presenceBuckets...)
}

func (m *metrics) connect(wire string) {
	if wire == "sse" {
		m.sseConns.Add(1)
		m.sseTotal.Add(1)
	} else {
		m.wsConns.Add(1)
		m.wsTotal.Add(1)
	}
}

func (m *metrics) disconnect(wire string) {
	if wire == "sse" {
		m.sseConns.Add(-1)
	} else {
		m.wsConns.Add(-1)
	}
}

// delivered counts the n messages of one batch written on wire, and their
// publish→write latencies gathered in lat.
func (m *metrics) delivered(wire string, n int, lat *latencies) {
	if n == 0 {
		return
	}
	if wire == "sse" {
		m.sseDelivered.Add(int64(n))
		lat.t.flush(m.sseLatency)
	} else {
		m.wsDelivered.Add(int64(n))
		lat.t.flush(m.wsLatency)
	}
}

// writerPass records what a connection's writer took from its queue.
func (m *metrics) writerPass(wk *work) {
	if n := len(wk.batch); n > 0 {
		m.queueDepth.observe(int64(n))
	}
}

// resumed records the outcome of a subscribe that asked to resume.
func (m *metrics) resumed(r *Resume) {
	if r.Gap != nil {
		m.resumesGap.Add(1)
	} else {
		m.resumesExact.Add(1)
	}
	m.replayed.observe(int64(len(r.Messages)))
}

// brokerError counts err, returned by the broker's Publish (publish true) or
// Subscribe, when it is the broker's failure rather than the request's
// (a cancelled request, an id from the future, a refused channel).
func (m *metrics) brokerError(err error, publish bool) {
	if !brokerFault(err) {
		return
	}
	if publish {
		m.brokerPublishErrors.Add(1)
	} else {
		m.brokerSubscribeErrors.Add(1)
	}
}

func brokerFault(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrFutureID) {
		return false
	}
	var e *shared.Error
	if errors.As(err, &e) {
		return e.Code == shared.CodeBrokerUnavailable || e.Code == shared.CodeInternal
	}
	return true
}

// latencies gathers the publish→write latencies of one batch written at
// now: Unix milliseconds, the unit of a message's timestamp (so the
// histogram's resolution is a millisecond). The writer reads the clock once
// per batch, for this and for the outbox's last write.
type latencies struct {
	now int64
	t   tally
}

// add adds m's latency. A timestamp from a clock ahead of ours (another
// node's) counts as 0.
func (l *latencies) add(h *histogram, m *Message) {
	l.t.add(h, max(l.now-m.Envelope.TS, 0))
}
