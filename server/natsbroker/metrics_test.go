package natsbroker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/prometheus/client_golang/prometheus"
)

// TestHubMetricsDuringOutage: while a node has lost NATS, the hub's
// collector reports the broker down and counts the publishes and resumes
// the broker failed; once NATS is back it reports the broker up.
func TestHubMetricsDuringOutage(t *testing.T) {
	n := startNATS(t)
	link := startProxy(t, n.URL()[len("nats://"):])
	b := newBroker(t, link.URL(), natsbroker.Config{})
	hub, err := server.NewHub(&server.Config{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(hub.Collector())
	sample := func(name, label, value string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == label && m.GetLabel()[0].GetValue() == value) {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no %s{%s=%q}", name, label, value)
		return 0
	}
	id, err := hub.Publish(t.Context(), "c", "", []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if up := sample("duet_broker_up", "", ""); up != 1 {
		t.Fatalf("duet_broker_up %v before the outage", up)
	}

	link.setUp(false)
	waitUntil(t, "the node to notice the outage", 10*time.Second, func() bool { return b.Healthy() != nil })
	if up := sample("duet_broker_up", "", ""); up != 0 {
		t.Fatalf("duet_broker_up %v during the outage", up)
	}
	if _, err := hub.Publish(t.Context(), "c", "", []byte(`2`)); err == nil {
		t.Fatal("a publish succeeded during the outage")
	}
	// A resume during the outage is refused for now (PROTOCOL.md §3.5): a
	// 200 whose stream only says to come back (duet.close 4003), so that a
	// native EventSource retries instead of giving up.
	resp, err := http.Get(srv.URL + "/rt/sse?channel=c&lastEventId=" + id.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), "event: duet.close") || !strings.Contains(string(body), `"code":4003`) || strings.Contains(string(body), "duet.hello") {
		t.Fatalf("a resume during the outage: status %d, body %q; want only a duet.close 4003", resp.StatusCode, body)
	}
	if got := sample("duet_broker_errors_total", "op", "publish"); got != 1 {
		t.Fatalf("publish errors %v, want 1", got)
	}
	if got := sample("duet_broker_errors_total", "op", "subscribe"); got != 1 {
		t.Fatalf("subscribe errors %v, want 1", got)
	}

	link.setUp(true)
	waitUntil(t, "the node to see NATS again", 20*time.Second, func() bool { return b.Healthy() == nil })
	if up := sample("duet_broker_up", "", ""); up != 1 {
		t.Fatalf("duet_broker_up %v after the outage", up)
	}
}
