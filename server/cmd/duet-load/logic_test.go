package main

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	t.Run("exact below 128 µs", func(t *testing.T) {
		for us := int64(0); us < histLinear; us++ {
			if got := histValue(histIndex(us)); got != us {
				t.Fatalf("bucket of %d µs holds %d", us, got)
			}
		}
	})
	t.Run("within 1.6% above", func(t *testing.T) {
		prev := 0
		for us := int64(128); us < 1<<40; us += us/97 + 1 {
			i := histIndex(us)
			if i < prev {
				t.Fatalf("index of %d µs is %d, below %d of a smaller value", us, i, prev)
			}
			prev = i
			if v := histValue(i); math.Abs(float64(v-us))/float64(us) > 1.0/64 {
				t.Fatalf("%d µs falls in a bucket worth %d µs", us, v)
			}
		}
	})
	t.Run("quantiles", func(t *testing.T) {
		var h histogram
		for us := 1; us <= 100_000; us++ {
			h.Record(time.Duration(us) * time.Microsecond)
		}
		if h.Count() != 100_000 {
			t.Fatalf("count %d", h.Count())
		}
		for _, c := range []struct {
			q    float64
			want time.Duration
		}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 99900 * time.Microsecond}, {1, 100 * time.Millisecond}} {
			got := h.Quantile(c.q)
			if math.Abs(float64(got-c.want))/float64(c.want) > 0.016 {
				t.Errorf("p%g = %v, want about %v", c.q*100, got, c.want)
			}
		}
		if m := h.Max(); math.Abs(float64(m-100*time.Millisecond)) > float64(time.Millisecond) {
			t.Errorf("max %v", m)
		}
	})
	t.Run("empty and merged shards", func(t *testing.T) {
		var s shardedHistogram
		if q := s.Merged().Quantile(0.99); q != 0 {
			t.Fatalf("empty p99 = %v", q)
		}
		for i := range 32 {
			s.Record(i, time.Duration(i+1)*time.Microsecond)
		}
		m := s.Merged()
		if m.Count() != 32 || m.Max() != 32*time.Microsecond || m.Quantile(0.5) != 16*time.Microsecond {
			t.Fatalf("merged: count %d max %v p50 %v", m.Count(), m.Max(), m.Quantile(0.5))
		}
	})
}

func TestSeqChecker(t *testing.T) {
	for _, c := range []struct {
		name                 string
		seqs                 []int64
		published            int64
		lost, dup, reordered int64
		last                 int64
	}{
		{"in order", []int64{1, 2, 3, 4}, 4, 0, 0, 0, 4},
		{"nothing arrived", nil, 3, 3, 0, 0, 0},
		{"tail lost", []int64{1, 2}, 5, 3, 0, 0, 2},
		{"hole", []int64{1, 2, 5, 6}, 6, 2, 0, 0, 6},
		{"late arrival is reordered, not lost", []int64{1, 3, 2, 4}, 4, 0, 0, 1, 4},
		{"duplicate", []int64{1, 2, 2, 3}, 3, 0, 1, 0, 3},
		{"duplicate of a late one", []int64{1, 3, 2, 2}, 3, 0, 1, 1, 3},
		{"first message after 1", []int64{3, 4}, 4, 2, 0, 0, 4},
		{"missing beyond what was published is not lost", []int64{1, 4}, 2, 1, 0, 0, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s seqChecker
			for _, q := range c.seqs {
				s.Observe(q)
			}
			if got := s.Lost(c.published); got != c.lost {
				t.Errorf("lost %d, want %d", got, c.lost)
			}
			if s.duplicated != c.dup || s.reordered != c.reordered || s.Last() != c.last {
				t.Errorf("dup %d reordered %d last %d, want %d %d %d", s.duplicated, s.reordered, s.Last(), c.dup, c.reordered, c.last)
			}
		})
	}
}

// A second copy of a message whose publish was retried after a try with no
// answer is the publisher's doing: counted apart, not as a duplicate.
func TestSeqCheckerRetried(t *testing.T) {
	c := &channelState{name: "c"}
	c.inDoubt.Store(int64(2), struct{}{})
	s := seqChecker{doubted: c.doubted}
	for _, q := range []int64{1, 2, 2, 3, 3} {
		s.Observe(q)
	}
	if s.retried != 1 || s.duplicated != 1 || s.Lost(3) != 0 {
		t.Errorf("retried %d duplicated %d lost %d, want 1 1 0", s.retried, s.duplicated, s.Lost(3))
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("y", 70_000)
	stream := "event: duet.hello\nretry: 900\ndata: {\"type\":\"hello\"}\n\n" +
		":ping\n\n" +
		"\n\n" + // stray blank lines
		"id: 1-2\r\nevent: message\r\ndata: {\"a\":1}\r\n\r\n" +
		"data:no-space\ndata: second\n\n" +
		"id:7\n\n" +
		"data: " + long + "\n\n" +
		"unknown: field\ndata: x\n\n"
	r := newSSEReader(bufio.NewReaderSize(strings.NewReader(stream), 64))
	want := []struct {
		event, data, id string
		hasID, comment  bool
	}{
		{event: "duet.hello", data: `{"type":"hello"}`},
		{comment: true},
		{event: "message", data: `{"a":1}`, id: "1-2", hasID: true},
		{data: "no-space\nsecond"},
		{id: "7", hasID: true},
		{data: long},
		{data: "x"},
	}
	for i, w := range want {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if string(ev.Event) != w.event || string(ev.Data) != w.data || string(ev.ID) != w.id || ev.HasID != w.hasID || ev.Comment != w.comment {
			t.Fatalf("event %d: got event %q data %.40q id %q hasID %v comment %v, want %+v", i, ev.Event, ev.Data, ev.ID, ev.HasID, ev.Comment, w)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last event: %v, want EOF", err)
	}
}

func FuzzSSEReader(f *testing.F) {
	f.Add("data: x\n\n:c\n\nid: 1\r\n\r\n")
	f.Add("event: a\ndata:\ndata\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := newSSEReader(bufio.NewReaderSize(strings.NewReader(s), 16))
		for range len(s) + 1 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatal("more events than bytes")
	})
}

func TestPayloads(t *testing.T) {
	p := appendPayload(nil, 42, 1764100012345678901, 110)
	if len(p) != 110 {
		t.Fatalf("payload is %d bytes, want 110: %s", len(p), p)
	}
	if short := appendPayload(nil, 1, 2, 0); string(short) != `{"seq":1,"t":2,"p":""}` {
		t.Fatalf("minimal payload %s", short)
	}
	type got struct{ seq, t int64 }
	scan := func(frame string) []got {
		var out []got
		scanPayloads([]byte(frame), func(s, ts int64) { out = append(out, got{s, ts}) })
		return out
	}
	for _, c := range []struct {
		name  string
		frame string
		want  []got
	}{
		{"duet envelope", `{"id":"1-5","channel":"c","event":"message","data":` + string(p) + `,"ts":17}`, []got{{42, 1764100012345678901}}},
		{"batched WebSocket message", `{"type":"message","data":{"seq":1,"t":10}}` + "\n" + `{"type":"message","data":{"seq":2,"t":20}}`, []got{{1, 10}, {2, 20}}},
		{"centrifugo connect with recovered publications", `{"connect":{"subs":{"c":{"epoch":"ab","publications":[{"data":{"seq":7,"t":70},"offset":7},{"data":{"seq":8,"t":80},"offset":8}]}}}}`, []got{{7, 70}, {8, 80}}},
		{"a hello", `{"type":"hello","heartbeatMs":15000}`, nil},
		{"no timestamp", `{"seq":3}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := scan(c.frame)
			if len(g) != len(c.want) {
				t.Fatalf("got %v, want %v", g, c.want)
			}
			for i := range g {
				if g[i] != c.want[i] {
					t.Fatalf("got %v, want %v", g, c.want)
				}
			}
		})
	}
	line := []byte(`{"connect":{"subs":{"c":{"epoch":"xyz","offset":3}}},"pub":{"offset":9}}`)
	if e := stringField(line, epochKey); string(e) != "xyz" {
		t.Errorf("epoch %q", e)
	}
	if o, ok := lastIntField(line, offsetKey); !ok || o != 9 {
		t.Errorf("offset %d %v", o, ok)
	}
	if id := stringField([]byte(`{"id":"5-6","data":{}}`), idKey); string(id) != "5-6" {
		t.Errorf("id %q", id)
	}
	// A batched WebSocket message resumes after its last message.
	var rp resumePoint
	duetTarget("").resume([]byte(`{"type":"message","id":"1-7","data":{"seq":1,"t":1}}`+"\n"+`{"type":"message","id":"1-8","data":{"seq":2,"t":2}}`), &rp)
	if rp.id != "1-8" {
		t.Errorf("resume from %q, want 1-8", rp.id)
	}
	centrifugoTarget("").resume([]byte(`{"channel":"c","pub":{"data":{"seq":1,"t":1},"offset":4}}`+"\n"+`{"channel":"c","pub":{"data":{"seq":2,"t":2},"offset":5}}`), &rp)
	if rp.offset != 5 {
		t.Errorf("resume from offset %d, want 5", rp.offset)
	}
}

func FuzzScanPayloads(f *testing.F) {
	f.Add(`{"seq":1,"t":2}{"seq":`)
	f.Add(`"seq":99999999999999999999999,"t":`)
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		scanPayloads([]byte(s), func(seq, ts int64) {
			if seq < 0 || ts < 0 {
				t.Fatalf("negative seq %d or t %d", seq, ts)
			}
			n++
		})
		if n > len(s)/len(`"seq":0"t":0`)+1 {
			t.Fatalf("%d payloads in %d bytes", n, len(s))
		}
	})
}

func TestParseGauge(t *testing.T) {
	body := []byte("# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines_total 5\ngo_goroutines 1234\nprocess_resident_memory_bytes{x=\"y\"} 42\n")
	if v, err := parseGauge(body, "go_goroutines"); err != nil || v != 1234 {
		t.Fatalf("go_goroutines = %v, %v", v, err)
	}
	if v, err := parseGauge(body, "process_resident_memory_bytes"); err != nil || v != 42 {
		t.Fatalf("labelled sample = %v, %v", v, err)
	}
	if _, err := parseGauge(body, "missing"); err == nil {
		t.Fatal("no error for a missing metric")
	}
}

func TestParseProcIO(t *testing.T) {
	body := []byte("rchar: 6976\nwchar: 10\nsyscr: 12\nsyscw: 345\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n")
	if r, w := parseProcIO(body); r != 12 || w != 345 {
		t.Fatalf("syscr, syscw = %d, %d; want 12, 345", r, w)
	}
	// This process: a read system call is counted.
	before := self()
	if _, err := os.ReadFile("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
	if after := self(); after.Reads <= before.Reads {
		t.Fatalf("syscr %d then %d: the read was not counted", before.Reads, after.Reads)
	}
}

func TestReport(t *testing.T) {
	rep := &report{Machine: map[string]any{"cpus": 2}, Started: "now", Results: []*result{
		{Scenario: "fanout-1k-sse", Target: "duet", Connected: 1000, DeliveriesPerSec: 600_000, P99ms: 10, CPUPerMillion: 2, UserPerMillion: 0.5, DeliveriesPerWrite: 1.25, DeliveriesPerRead: 2.5},
		{Scenario: "fanout-1k-sse", Target: "centrifugo", Connected: 1000, DeliveriesPerSec: 300_000, P99ms: 20, CPUPerMillion: 4},
		{Scenario: "fanout-1k-sse", Target: "bare", Connected: 1000, DeliveriesPerSec: 800_000, P99ms: 8, CPUPerMillion: 1.5},
		{Scenario: "idle-5k-ws", Target: "duet", Connected: 5000, RSSPerConnKiB: 25, scenario: scenario{Idle: true}},
		{Scenario: "idle-5k-ws", Target: "centrifugo", Connected: 5000, RSSPerConnKiB: 50, scenario: scenario{Idle: true}},
	}}
	rep.computeRatios()
	rep.computeChecks()
	if r := rep.ratio("fanout-1k-sse", "centrifugo"); r == nil || r.DeliveriesPerSec != 2 || r.P99 != 0.5 || r.CPUPerMillion != 0.5 {
		t.Fatalf("ratio vs centrifugo: %+v", r)
	}
	if r := rep.ratio("idle-5k-ws", "centrifugo"); r == nil || r.RSSPerConn != 0.5 {
		t.Fatalf("idle ratio: %+v", r)
	}
	if rep.ratio("idle-5k-ws", "bare") != nil {
		t.Fatal("a ratio against a server that did not run")
	}
	pass := map[string]bool{}
	for _, c := range rep.Checks {
		pass[c.What] = c.Pass
	}
	for what, want := range map[string]bool{
		"fanout-1k-sse: deliveries/s vs Centrifugo at ≤ its p99": true,
		"fanout-1k-sse: deliveries/s vs bare":                    false, // 0.75×
		"idle-5k-ws: RSS per idle subscriber":                    false, // 25 KiB
		"fanout-1k-sse: lost / duplicated / reordered":           true,
	} {
		if got, ok := pass[what]; !ok || got != want {
			t.Errorf("check %q: pass %v (present %v), want %v", what, got, ok, want)
		}
	}
	var table strings.Builder
	rep.writeTable(&table)
	for _, s := range []string{"fanout-1k-sse", "2.00×", "MISS", "ok"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	var md strings.Builder
	rep.writeMarkdown(&md)
	if !strings.Contains(md.String(), "| fanout-1k-sse | centrifugo | 1000 | 300k |") || !strings.Contains(md.String(), "| 1.25 / 2.50 |") || !strings.Contains(md.String(), "| 2.0 (0.5) |") || !strings.Contains(md.String(), "2.00× deliveries/s, 0.50× p99") || !strings.Contains(md.String(), "0.50× RSS/conn") {
		t.Errorf("markdown:\n%s", md.String())
	}
	svg := renderSVG(rep)
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	rects := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + 3 legend + 3 deliveries + 3 p99 + 2 idle
	if rects != 12 {
		t.Errorf("%d rects in the SVG, want 12", rects)
	}
}

func TestShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1.5: "1.5", 12.34: "12.3", 150: "150", 2500: "2.5k", 1_250_000: "1.25M", 300_000: "300k"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestObserve(t *testing.T) {
	r := &loadRun{t: duetTarget(""), hist: new(shardedHistogram)}
	r.winHi.Store(1 << 62)
	s := &subscriber{channel: &channelState{name: "c"}}
	r.observe(s, []byte(`{"type":"hello","heartbeatMs":15000}`), false) // before the subscription: not a heartbeat
	r.observe(s, []byte(`{"type":"gap","channels":["c"],"lastEventId":"1-1","id":"1-3","reason":"expired"}`+"\n"+
		`{"type":"message","id":"1-4","channel":"c","data":{"seq":3,"t":1},"ts":1}`), true)
	r.observe(s, []byte(`{"type":"ping"}`), true)
	if s.gaps != 1 || s.heartbeats.Load() != 1 || s.delivered.Load() != 1 || s.last.Load() != 3 || s.resume.id != "1-4" {
		t.Fatalf("gaps %d heartbeats %d delivered %d last %d resume %q", s.gaps, s.heartbeats.Load(), s.delivered.Load(), s.last.Load(), s.resume.id)
	}
	if lost := s.seq.Lost(3); lost != 2 {
		t.Fatalf("lost %d, want 2 (1 and 2, behind the gap)", lost)
	}
	if r.hist.Merged().Count() != 1 {
		t.Fatal("no latency recorded")
	}
}
