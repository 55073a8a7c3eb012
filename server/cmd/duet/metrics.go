package main

import (
	"net/http"

	"github.com/duet-rt/duet/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves GET /metrics the way an application with its own
// Prometheus registry does: the hub's collector, the Go runtime's (from
// runtime/metrics, no stop-the-world per scrape) and the process's, and
// promhttp's counts of its own scrapes.
func metricsHandler(hub *server.Hub) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		hub.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	serve := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead { // as every Duet endpoint: 405 with Allow
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method "+r.Method+" not allowed: use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		serve.ServeHTTP(w, r)
	})
}
