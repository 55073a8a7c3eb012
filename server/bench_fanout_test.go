package server

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fan-out benchmarks: one publisher, fanoutSubscribers() subscribers over
// real loopback sockets. The subscribers are raw readers that count messages
// without decoding them, so that the numbers measure the server. They report
// delivered messages per second and allocations (whole process, readers
// included, which allocate next to nothing) per delivered message; the
// numbers are reported, never asserted.
//
//	go test -run '^$' -bench 'Fanout(SSE|WS)$' -benchtime 2000x ./server/
//	DUET_FANOUT_SUBS=5000 go test -run '^$' -bench FanoutLatency -benchtime 200x ./server/
//
// BenchmarkFanout{SSE,WS} publish as fast as the slowest subscriber allows
// (at most fanoutWindow messages ahead of it): throughput.
// BenchmarkFanoutLatency publishes at a fixed rate of deliveries per second
// (DUET_FANOUT_RATE, default 100k) and reports publish→read latency
// percentiles, measured by the readers from a sequence number in the data.

// fanoutSubscribers is how many subscribers; DUET_FANOUT_SUBS overrides it.
func fanoutSubscribers() int { return envInt("DUET_FANOUT_SUBS", 1000) }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// fanoutWindow bounds how far the publisher runs ahead of the slowest
// subscriber, well under the queue size, so no subscriber is cut off as slow
// however unevenly a loaded machine schedules the readers.
const fanoutWindow = 128

var fanoutData = []byte(`{"text":"hello, world","user":"ada","n":42}`)

func BenchmarkFanoutSSE(b *testing.B) { benchmarkFanout(b, dialFanoutSSE, 0) }
func BenchmarkFanoutWS(b *testing.B)  { benchmarkFanout(b, dialFanoutWS, 0) }

func BenchmarkFanoutLatency(b *testing.B) {
	rate := float64(envInt("DUET_FANOUT_RATE", 100_000))
	b.Run("sse", func(b *testing.B) { benchmarkFanout(b, dialFanoutSSE, rate) })
	b.Run("ws", func(b *testing.B) { benchmarkFanout(b, dialFanoutWS, rate) })
}

// fanoutReader is one subscriber's tally. count is the number of messages
// read; latencies (when measured) are appended before count moves past
// them, so whoever has seen count may read them.
type fanoutReader struct {
	count     atomic.Int64
	latencies []time.Duration
	sent      []atomic.Int64 // publish times (Unix ns) by sequence number; nil: no latency
	_         [40]byte       // keep counters of different readers off one cache line
}

// message notes one message whose data begins at p (for latency).
func (r *fanoutReader) message(p []byte, now int64) {
	if r.sent == nil {
		return
	}
	i := bytes.Index(p, []byte(`"data":{"n":`))
	if i < 0 {
		return
	}
	n := 0
	for _, c := range p[i+len(`"data":{"n":`):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	if n < len(r.sent) {
		r.latencies = append(r.latencies, time.Duration(now-r.sent[n].Load()))
	}
}

// fanoutDial connects one subscriber and returns its connection and its
// read loop; the loop calls ready once subscribed and tallies into r.
type fanoutDial func(ctx context.Context, addr string, r *fanoutReader, ready func()) (net.Conn, func(), error)

func dialFanoutSSE(ctx context.Context, addr string, r *fanoutReader, ready func()) (net.Conn, func(), error) {
	conn, resp, err := rawSSE(ctx, &net.Dialer{}, addr, "channel=fanout")
	if err != nil {
		return nil, nil, err
	}
	read := func() {
		br := bufio.NewReaderSize(resp.Body, 32<<10)
		var n int64
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			switch {
			case bytes.HasPrefix(line, []byte("data: {\"id\"")):
				r.message(line, time.Now().UnixNano())
				n++
			case len(line) == 1 && ready != nil: // the end of the hello event
				ready()
				ready = nil
			}
			if br.Buffered() == 0 && n > 0 { // about to block: publish the count
				r.count.Add(n)
				n = 0
			}
		}
	}
	return conn, read, nil
}

func dialFanoutWS(ctx context.Context, addr string, r *fanoutReader, ready func()) (net.Conn, func(), error) {
	message := []byte(`{"type":"message",`)
	raw, err := dialRawWS(ctx, &net.Dialer{}, addr)
	if err != nil {
		return nil, nil, err
	}
	if err := raw.writeFrame(opText, []byte(`{"type":"subscribe","channels":["fanout"]}`)); err != nil {
		raw.conn.Close()
		return nil, nil, err
	}
	read := func() {
		buf := make([]byte, 64<<10)
		var n int64
		for {
			op, p, err := raw.readFrame(buf)
			if err != nil {
				return
			}
			switch op {
			case opText:
				now := time.Now().UnixNano()
				for rest := p; ; {
					i := bytes.Index(rest, message)
					if i < 0 {
						break
					}
					rest = rest[i+len(message):]
					r.message(rest, now)
					n++
				}
				if ready != nil && bytes.Contains(p, []byte(`"type":"subscribed"`)) {
					ready()
					ready = nil
				}
			case opPing:
				_ = raw.writeFrame(opPong, p)
			case opClose:
				return
			}
			if raw.br.Buffered() == 0 && n > 0 {
				r.count.Add(n)
				n = 0
			}
		}
	}
	return raw.conn, read, nil
}

// benchmarkFanout publishes b.N messages to every subscriber: as fast as the
// window allows when rate is 0, else at rate deliveries per second.
func benchmarkFanout(b *testing.B, dial fanoutDial, rate float64) {
	subs := fanoutSubscribers()
	if limit, ok := raiseFileLimit(uint64(2*subs + 256)); !ok {
		b.Skipf("needs %d file descriptors, the limit is %d: raise ulimit -n", 2*subs+256, limit)
	}
	cfg := Config{
		// No heartbeats during a run: they would be noise.
		Heartbeat:    time.Minute,
		WriteTimeout: 30 * time.Second,
		QueueSize:    4 * fanoutWindow,
		Logger:       quietLogger(),
	}
	if os.Getenv("DUET_FANOUT_PRESENCE") == "1" { // every subscriber listed in presence
		cfg.PresenceChannels = []string{"fanout"}
	}
	ts := newTestServer(b, cfg, MemoryConfig{HistorySize: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var sent []atomic.Int64
	if rate > 0 {
		sent = make([]atomic.Int64, b.N)
	}
	readers := make([]fanoutReader, subs)
	var ready, reading sync.WaitGroup
	conns := make([]net.Conn, 0, subs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		reading.Wait()
	}()
	for i := range readers {
		r := &readers[i]
		r.sent = sent
		ready.Add(1)
		conn, read, err := dial(ctx, ts.addr(), r, sync.OnceFunc(ready.Done))
		if err != nil {
			b.Fatalf("subscriber %d: %v", i, err)
		}
		conns = append(conns, conn)
		reading.Add(1)
		go func() {
			defer reading.Done()
			read()
		}()
	}
	ready.Wait()

	// waitAll waits until every subscriber has read want messages.
	waitAll := func(want int64) {
		deadline := time.Now().Add(2 * time.Minute)
		for i := range readers {
			for readers[i].count.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("subscriber %d read %d of %d messages", i, readers[i].count.Load(), want)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(subs) / rate)
	}
	data := fanoutData
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			data = strconv.AppendInt(append(data[:0:0], `{"n":`...), int64(i), 10)
			data = append(data, '}')
			sent[i].Store(time.Now().UnixNano())
		}
		if _, err := ts.hub.Publish(ctx, "fanout", "", data); err != nil {
			b.Fatal(err)
		}
		if ahead := i + 1 - fanoutWindow; ahead > 0 && i%(fanoutWindow/4) == 0 {
			waitAll(int64(ahead))
		}
	}
	waitAll(int64(b.N))
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := int64(b.N) * int64(subs)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(total), "allocs/delivery")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(total), "B/delivery")
	if slow := ts.hub.metrics.slowConsumers.Load(); slow > 0 {
		b.Fatalf("%d subscribers were cut off as slow", slow)
	}
	if rate > 0 {
		var all []time.Duration
		for i := range readers {
			all = append(all, readers[i].latencies...)
		}
		if len(all) != int(total) {
			b.Fatalf("measured %d latencies of %d deliveries", len(all), total)
		}
		slices.Sort(all)
		pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(pct(0.999), "p99.9-ms")
	}
}
