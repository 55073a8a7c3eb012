package server

import (
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// gathered is one scrape of a registry: "name{label="v",…}" → sample, with
// a histogram as its count (its sum under name_sum, its cumulative buckets
// under name_bucket{…,le="…"}).
type gathered map[string]float64

func gather(t *testing.T, g prometheus.Gatherer) gathered {
	t.Helper()
	mfs, err := g.Gather()
	assert.NoError(t, err)
	out := gathered{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + labelText(m.GetLabel(), "")
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key] = float64(h.GetSampleCount())
				out[mf.GetName()+"_sum"+labelText(m.GetLabel(), "")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'f', -1, 64)
					out[mf.GetName()+"_bucket"+labelText(m.GetLabel(), le)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// labelText is {a="x",b="y"} (with le last when given), or "" without
// labels.
func labelText(ls []*dto.LabelPair, le string) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	if le != "" {
		parts = append(parts, `le="`+le+`"`)
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// waitGathered gathers until ok holds of the scrape, or fails after a few
// seconds: a counter is added to just after the write that a client may
// already have read.
func waitGathered(t *testing.T, g prometheus.Gatherer, what string, ok func(gathered) bool) gathered {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := gather(t, g)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached; last scrape: %v", what, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCollector: after a scripted run (fresh subscribes and publishes on
// both wires, an exact resume, a resume with a gap, a broker that fails),
// the collector registered in an application's registry reports each
// metric with its name, labels and value.
func TestCollector(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{HistorySize: 3})
	reg := prometheus.NewRegistry()
	reg.MustRegister(ts.hub.Collector())

	s := ts.openSSE(t, sseQuery("", "a"), nil)
	w := ts.openWS(t)
	w.subscribe("1", "", "a")
	var ids []string
	for range 5 {
		ids = append(ids, ts.publish(t, "a", "", `{"n":1}`))
	}
	s.expectIDs(ids...)
	w.expectIDs(ids...)

	// History keeps 3, 4 and 5: from 3 is exact (two replayed), from 1 is
	// a gap (three replayed).
	s2 := ts.openSSE(t, sseQuery(idOf(3), "a"), nil)
	s2.expectIDs(idOf(4), idOf(5))
	w.subscribe("2", idOf(1), "b") // nothing kept on b, nothing lost: exact, none replayed
	w2 := ts.openWS(t)
	w2.subscribe("3", idOf(1), "a")
	w2.expectGap([]string{"a"}, idOf(1), idOf(2), shared.GapExpired)
	w2.expectIDs(idOf(3), idOf(4), idOf(5))

	m := waitGathered(t, reg, "every delivery counted", func(m gathered) bool {
		return m[`duet_messages_delivered_total{wire="sse"}`] == 7 && m[`duet_messages_delivered_total{wire="ws"}`] == 8
	})
	for key, want := range map[string]float64{
		`duet_connections{wire="sse"}`:             2,
		`duet_connections{wire="ws"}`:              2,
		`duet_connections_total{wire="sse"}`:       2,
		`duet_connections_total{wire="ws"}`:        2,
		`duet_messages_published_total`:            5,
		`duet_resumes_total{outcome="exact"}`:      2,
		`duet_resumes_total{outcome="gap"}`:        1,
		`duet_broker_errors_total{op="publish"}`:   0,
		`duet_broker_errors_total{op="subscribe"}`: 0,
		`duet_broker_up`:                           1,
		`duet_queue_limit`:                         1024,
		// One observation per resume: 2, 0 and 3 messages.
		`duet_replay_messages`:                 0 + 3,
		`duet_replay_messages_sum`:             5,
		`duet_replay_messages_bucket{le="0"}`:  1,
		`duet_replay_messages_bucket{le="1"}`:  1,
		`duet_replay_messages_bucket{le="10"}`: 3,
		// One observation per message written, by wire.
		`duet_delivery_latency_seconds{wire="sse"}`: 7,
		`duet_delivery_latency_seconds{wire="ws"}`:  8,
		`duet_slow_consumer_disconnects_total`:      0,
		`duet_write_errors_total`:                   0,
	} {
		got, ok := m[key]
		assert.True(t, key+" is reported", ok)
		assert.Equal(t, key, got, want)
	}
	// Published a moment ago on this machine: well under 10 s each.
	for _, wire := range []string{"sse", "ws"} {
		n := m[`duet_delivery_latency_seconds{wire="`+wire+`"}`]
		assert.Equal(t, wire+" latencies under 10 s", m[`duet_delivery_latency_seconds_bucket{wire="`+wire+`",le="10"}`], n)
		assert.True(t, wire+" latency sum", m[`duet_delivery_latency_seconds_sum{wire="`+wire+`"}`] < 10*n)
	}
	// Each writer pass took at least one item; every message went through
	// a queue (the replays in one item each).
	depth, passes := m[`duet_queue_depth_sum`], m[`duet_queue_depth`]
	assert.True(t, "writer passes counted", passes > 0)
	assert.True(t, "queue depth sum ≥ passes", depth >= passes)

	// A broker that fails: publishes and subscribes are counted as its
	// errors, and it is reported down.
	assert.NoError(t, ts.broker.Close())
	_, err := ts.hub.Publish(t.Context(), "a", "", []byte(`1`))
	assert.True(t, "publish fails", err != nil)
	w.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "4", Channels: []string{"c"}})
	w.expectError("4", shared.CodeShutdown)
	m = waitGathered(t, reg, "broker errors counted", func(m gathered) bool {
		return m[`duet_broker_errors_total{op="subscribe"}`] == 1
	})
	assert.Equal(t, "publish errors", m[`duet_broker_errors_total{op="publish"}`], 1.0)
	assert.Equal(t, "broker down", m[`duet_broker_up`], 0.0)

	problems, err := testutil.CollectAndLint(ts.hub.Collector())
	assert.NoError(t, err)
	assert.Equal(t, "promlint problems", problems, nil)
}

// TestMetricsHandler: the hub's own /metrics (for applications without a
// registry) serves the collector's metrics under the names dashboards
// use, with the Go runtime's and the process's from the standard
// collectors.
func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	ts.publish(t, "a", "", `1`)
	resp, body := ts.do(t, "GET", "/metrics", nil, "")
	assert.Equal(t, "status", resp.StatusCode, 200)
	assert.True(t, "content type", strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
	for _, line := range []string{
		"duet_messages_published_total 1",
		`duet_connections{wire="sse"} 0`,
		"# TYPE duet_delivery_latency_seconds histogram",
		"# TYPE go_goroutines gauge",
		"# TYPE go_memstats_heap_inuse_bytes gauge",
		"# TYPE process_resident_memory_bytes gauge",
	} {
		assert.True(t, "/metrics has "+line, strings.Contains(string(body), line+"\n"))
	}
}

// TestMetricsScrapeDoesNotStopTheWorld: a scrape must not stop the world
// (runtime.ReadMemStats does, once per call): the runtime's count of
// stop-the-world pauses not caused by the GC must not grow with scrapes.
// Not parallel: another test's goroutine dump (goleak) would count.
func TestMetricsScrapeDoesNotStopTheWorld(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	pauses := func() uint64 {
		s := []rtmetrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
		rtmetrics.Read(s)
		if s[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
			t.Fatalf("runtime/metrics has no %s", s[0].Name)
		}
		var n uint64
		for _, c := range s[0].Value.Float64Histogram().Counts {
			n += c
		}
		return n
	}
	ts.metrics(t) // the first scrape sets the registry up
	const scrapes = 50
	before := pauses()
	for range scrapes {
		ts.metrics(t)
	}
	stopped := pauses() - before
	t.Logf("%d stop-the-world pauses (not GC) during %d scrapes", stopped, scrapes)
	assert.True(t, "scrapes stop the world (ReadMemStats?)", stopped < scrapes/5)
}

// Presence metrics: the entries of this node's connections (one per client
// and channel) and each channel's size when a client joins it.
func TestCollectorPresence(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, presenceConfig(), MemoryConfig{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(ts.hub.Collector())

	a, _ := ts.openWSAs(t, "ann", "")
	b, _ := ts.openWSAs(t, "bob", "")
	a.subscribe("1", "", "quiet:x")
	b.subscribe("1", "", "quiet:x", "quiet:y", "plain") // plain has no presence
	m := waitGathered(t, reg, "three entries", func(m gathered) bool { return m[`duet_presence_entries`] == 3 })
	for key, want := range map[string]float64{
		// Joins saw quiet:x with 1 then 2 clients, quiet:y with 1.
		`duet_presence_size`:                3,
		`duet_presence_size_sum`:            4,
		`duet_presence_size_bucket{le="1"}`: 2,
		`duet_presence_size_bucket{le="2"}`: 3,
	} {
		assert.Equal(t, key, m[key], want)
	}
	b.sendFrame(shared.Frame{Type: shared.TypeUnsubscribe, Ref: "2", Channels: []string{"quiet:y"}})
	waitGathered(t, reg, "quiet:y left", func(m gathered) bool { return m[`duet_presence_entries`] == 2 })
	a.close()
	b.close()
	waitGathered(t, reg, "every connection gone", func(m gathered) bool { return m[`duet_presence_entries`] == 0 })
}
