package server

import (
	"bytes"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

// metrics are the hub's counters, exported at /metrics in the Prometheus
// text format. They are plain atomics: the hot path must not pay for a
// metrics library.
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

func (m *metrics) delivered(wire string, n int) {
	if n == 0 {
		return
	}
	if wire == "sse" {
		m.sseDelivered.Add(int64(n))
	} else {
		m.wsDelivered.Add(int64(n))
	}
}

// MetricsHandler serves the hub's metrics in the Prometheus text format.
func (h *Hub) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		m := &h.metrics
		var b bytes.Buffer
		metric := func(name, typ, help string, samples ...sample) {
			b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
			for _, s := range samples {
				b.WriteString(name + s.labels + " " + strconv.FormatInt(s.v, 10) + "\n")
			}
		}
		metric("duet_connections", "gauge", "Open client connections.",
			sample{`{wire="sse"}`, m.sseConns.Load()}, sample{`{wire="ws"}`, m.wsConns.Load()})
		metric("duet_connections_total", "counter", "Client connections accepted.",
			sample{`{wire="sse"}`, m.sseTotal.Load()}, sample{`{wire="ws"}`, m.wsTotal.Load()})
		metric("duet_messages_published_total", "counter", "Messages published.", sample{"", m.published.Load()})
		metric("duet_publish_duplicates_total", "counter", "Publishes with an idempotency key already used: nothing stored, the first id answered.", sample{"", m.duplicates.Load()})
		metric("duet_messages_delivered_total", "counter", "Messages written to clients.",
			sample{`{wire="sse"}`, m.sseDelivered.Load()}, sample{`{wire="ws"}`, m.wsDelivered.Load()})
		metric("duet_slow_consumer_disconnects_total", "counter", "Clients cut off because their queue overflowed.", sample{"", m.slowConsumers.Load()})
		metric("duet_heartbeat_timeouts_total", "counter", "WebSocket clients that did not answer a ping in time.", sample{"", m.heartbeatTimeouts.Load()})
		metric("duet_write_errors_total", "counter", "Writes to clients that failed or timed out.", sample{"", m.writeErrors.Load()})
		metric("duet_bad_requests_total", "counter", "Refused requests and frames.", sample{"", m.badRequests.Load()})
		metric("duet_auth_failures_total", "counter", "Requests refused for missing, invalid or expired credentials.", sample{"", m.authFailures.Load()})
		metric("duet_forbidden_total", "counter", "Subscribes and publishes refused by permissions or the cross-origin check.", sample{"", m.forbidden.Load()})
		metric("duet_rate_limited_total", "counter", "Publishes refused by a rate limit.", sample{"", m.rateLimited.Load()})
		metric("duet_credential_expiries_total", "counter", "Connections closed (4401) because their credentials expired.", sample{"", m.expiries.Load()})
		metric("go_goroutines", "gauge", "Goroutines.", sample{"", int64(runtime.NumGoroutine())})
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		metric("go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.", sample{"", int64(ms.HeapInuse)})
		if rss, ok := residentBytes(); ok {
			metric("process_resident_memory_bytes", "gauge", "Resident set size.", sample{"", rss})
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})
}

type sample struct {
	labels string
	v      int64
}

// residentBytes reads the process's RSS from /proc (Linux only).
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
