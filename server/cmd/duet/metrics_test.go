package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared/assert"
)

// TestMetricsHandler: bin/duet's /metrics has the hub's metrics under the
// names dashboards use, the Go runtime's and the process's.
func TestMetricsHandler(t *testing.T) {
	hub, err := server.NewHub(nil)
	assert.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
	})
	_, err = hub.PublishJSON(t.Context(), "c", "", 1)
	assert.NoError(t, err)
	srv := httptest.NewServer(metricsHandler(hub))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	assert.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	for _, line := range []string{
		"duet_messages_published_total 1",
		`duet_connections{wire="ws"} 0`,
		"# TYPE duet_delivery_latency_seconds histogram",
		"# TYPE duet_queue_depth histogram",
		"# TYPE go_goroutines gauge",
		"# TYPE process_resident_memory_bytes gauge",
		"# TYPE promhttp_metric_handler_requests_total counter",
	} {
		assert.True(t, "/metrics has "+line, strings.Contains(string(body), line+"\n"))
	}
	post, err := http.Post(srv.URL, "text/plain", nil)
	assert.NoError(t, err)
	post.Body.Close()
	assert.Equal(t, "POST status", post.StatusCode, http.StatusMethodNotAllowed)
	assert.Equal(t, "Allow", post.Header.Get("Allow"), "GET, HEAD")
}
