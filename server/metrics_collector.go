package server

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Collector returns a prometheus.Collector of the hub's metrics, for an
// application's own registry:
//
//	reg.MustRegister(hub.Collector())
//
// It holds Duet's metrics only (duet_*); the Go runtime's and the
// process's come from the standard collectors (collectors.NewGoCollector,
// collectors.NewProcessCollector), which a registry usually has already.
// The hub counts with plain atomics whether or not anything collects; a
// scrape reads them.
func (h *Hub) Collector() prometheus.Collector { return hubCollector{h} }

// MetricsHandler serves the hub's metrics in the Prometheus text format
// (protobuf when a scraper asks for it): Collector's, with the standard Go
// runtime (from runtime/metrics: no stop-the-world ReadMemStats per
// scrape) and process collectors, in a registry of the hub's own. It is
// for applications without a registry; one that has its own registers
// Collector there and serves that instead.
func (h *Hub) MetricsHandler() http.Handler {
	h.metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(h.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		h.metricsHTTP = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h.metricsHTTP.ServeHTTP(w, r)
	})
}

// metricsServer is the hub's own registry's handler, made on first use.
type metricsServer struct {
	metricsOnce sync.Once
	metricsHTTP http.Handler
}

type hubCollector struct{ h *Hub }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The hub's metrics. The names before the histograms are those /metrics
// had before client_golang: dashboards and tests rely on them.
var (
	connectionsDesc       = desc("duet_connections", "Open client connections.", "wire")
	connectionsTotalDesc  = desc("duet_connections_total", "Client connections accepted.", "wire")
	publishedDesc         = desc("duet_messages_published_total", "Messages published.")
	duplicatesDesc        = desc("duet_publish_duplicates_total", "Publishes with an idempotency key already used: nothing stored, the first id answered.")
	deliveredDesc         = desc("duet_messages_delivered_total", "Messages written to clients.", "wire")
	slowConsumersDesc     = desc("duet_slow_consumer_disconnects_total", "Clients cut off because their queue overflowed.")
	heartbeatTimeoutsDesc = desc("duet_heartbeat_timeouts_total", "WebSocket clients that did not answer a ping in time.")
	writeErrorsDesc       = desc("duet_write_errors_total", "Writes to clients that failed or timed out.")
	badRequestsDesc       = desc("duet_bad_requests_total", "Refused requests and frames.")
	authFailuresDesc      = desc("duet_auth_failures_total", "Requests refused for missing, invalid or expired credentials.")
	forbiddenDesc         = desc("duet_forbidden_total", "Subscribes and publishes refused by permissions or the cross-origin check.")
	rateLimitedDesc       = desc("duet_rate_limited_total", "Publishes refused by a rate limit.")
	expiriesDesc          = desc("duet_credential_expiries_total", "Connections closed (4401) because their credentials expired.")

	resumesDesc      = desc("duet_resumes_total", "Subscribes that resumed from an id, by outcome: exact (every missed message replayed) or gap (a gap notice was sent).", "outcome")
	brokerErrorsDesc = desc("duet_broker_errors_total", "Publishes and subscribes that failed in the broker (e.g. NATS unavailable), by operation.", "op")
	brokerUpDesc     = desc("duet_broker_up", "1 while the broker can publish and deliver (what /rt/healthz reports), else 0.")
	queueLimitDesc   = desc("duet_queue_limit", "Items a connection's queue holds before its client is cut off as a slow consumer (Config.QueueSize).")
	latencyDesc      = desc("duet_delivery_latency_seconds", "Time from publish (the message's timestamp) to its write to a client, per message, by wire; millisecond resolution.", "wire")
	replayDesc       = desc("duet_replay_messages", "Messages replayed per resume.")
	queueDepthDesc   = desc("duet_queue_depth", "Items a connection's writer found queued, per pass of the writer.")

	presenceEntriesDesc = desc("duet_presence_entries", "Presence entries of this node's connections: a client listed in n channels counts n times.")
	presenceSizeDesc    = desc("duet_presence_size", "A channel's presence clients when one joins (the joining one included), one observation per join.")
)

var allDescs = []*prometheus.Desc{
	connectionsDesc, connectionsTotalDesc, publishedDesc, duplicatesDesc, deliveredDesc, slowConsumersDesc,
	heartbeatTimeoutsDesc, writeErrorsDesc, badRequestsDesc, authFailuresDesc, forbiddenDesc,
	rateLimitedDesc, expiriesDesc, resumesDesc, brokerErrorsDesc, brokerUpDesc, queueLimitDesc,
	latencyDesc, replayDesc, queueDepthDesc, presenceEntriesDesc, presenceSizeDesc,
}

// Describe implements prometheus.Collector.
func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	m := &h.metrics
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(connectionsDesc, m.sseConns.Load(), "sse")
	gauge(connectionsDesc, m.wsConns.Load(), "ws")
	counter(connectionsTotalDesc, m.sseTotal.Load(), "sse")
	counter(connectionsTotalDesc, m.wsTotal.Load(), "ws")
	counter(publishedDesc, m.published.Load())
	counter(duplicatesDesc, m.duplicates.Load())
	counter(deliveredDesc, m.sseDelivered.Load(), "sse")
	counter(deliveredDesc, m.wsDelivered.Load(), "ws")
	counter(slowConsumersDesc, m.slowConsumers.Load())
	counter(heartbeatTimeoutsDesc, m.heartbeatTimeouts.Load())
	counter(writeErrorsDesc, m.writeErrors.Load())
	counter(badRequestsDesc, m.badRequests.Load())
	counter(authFailuresDesc, m.authFailures.Load())
	counter(forbiddenDesc, m.forbidden.Load())
	counter(rateLimitedDesc, m.rateLimited.Load())
	counter(expiriesDesc, m.expiries.Load())
	counter(resumesDesc, m.resumesExact.Load(), "exact")
	counter(resumesDesc, m.resumesGap.Load(), "gap")
	counter(brokerErrorsDesc, m.brokerPublishErrors.Load(), "publish")
	counter(brokerErrorsDesc, m.brokerSubscribeErrors.Load(), "subscribe")
	up := int64(0)
	if h.broker.Healthy() == nil {
		up = 1
	}
	gauge(brokerUpDesc, up)
	gauge(queueLimitDesc, int64(h.cfg.QueueSize))
	ch <- m.sseLatency.metric(latencyDesc, 1000, "sse")
	ch <- m.wsLatency.metric(latencyDesc, 1000, "ws")
	ch <- m.replayed.metric(replayDesc, 1)
	ch <- m.queueDepth.metric(queueDepthDesc, 1)
	gauge(presenceEntriesDesc, m.presenceEntries.Load())
	ch <- m.presenceSize.metric(presenceSizeDesc, 1)
}
