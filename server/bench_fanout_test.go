package server

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fan-out benchmarks: one publisher, fanoutSubscribers subscribers over real
// loopback sockets. The subscribers are raw readers that count messages
// without decoding them, so that the numbers measure the server. They report
// delivered messages per second and allocations (whole process, readers
// included, which allocate next to nothing) per delivered message; the
// numbers are reported, never asserted.
//
//	go test -run '^$' -bench Fanout -benchtime 200x ./server/

const fanoutSubscribers = 1000

// fanoutWindow bounds how far the publisher runs ahead of the slowest
// subscriber, well under QueueSize, so no subscriber is cut off as slow.
const fanoutWindow = 128

var fanoutData = []byte(`{"text":"hello, world","user":"ada","n":42}`)

func BenchmarkFanoutSSE(b *testing.B) {
	benchmarkFanout(b, func(ctx context.Context, addr string, delivered *atomic.Int64, ready func()) (net.Conn, func(), error) {
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
				case bytes.HasPrefix(line, []byte("id: ")):
					n++
				case len(line) == 1 && ready != nil: // the end of the hello event
					ready()
					ready = nil
				}
				if br.Buffered() == 0 { // about to block: publish the count
					delivered.Add(n)
					n = 0
				}
			}
		}
		return conn, read, nil
	})
}

func BenchmarkFanoutWS(b *testing.B) {
	message := []byte(`{"type":"message",`)
	benchmarkFanout(b, func(ctx context.Context, addr string, delivered *atomic.Int64, ready func()) (net.Conn, func(), error) {
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
					n += int64(bytes.Count(p, message))
					if ready != nil && bytes.Contains(p, []byte(`"type":"subscribed"`)) {
						ready()
						ready = nil
					}
				case opPing:
					_ = raw.writeFrame(opPong, p)
				case opClose:
					return
				}
				if raw.br.Buffered() == 0 {
					delivered.Add(n)
					n = 0
				}
			}
		}
		return raw.conn, read, nil
	})
}

// fanoutDial connects one subscriber and returns its connection and its
// read loop; the loop calls ready once subscribed and adds what it counts to
// delivered.
type fanoutDial func(ctx context.Context, addr string, delivered *atomic.Int64, ready func()) (net.Conn, func(), error)

func benchmarkFanout(b *testing.B, dial fanoutDial) {
	if limit, ok := raiseFileLimit(2*fanoutSubscribers + 256); !ok {
		b.Skipf("needs %d file descriptors, the limit is %d: raise ulimit -n", 2*fanoutSubscribers+256, limit)
	}
	cfg := Config{
		// No heartbeats during a run: they would be noise.
		Heartbeat:    time.Minute,
		WriteTimeout: 30 * time.Second,
		QueueSize:    4 * fanoutWindow,
		Logger:       quietLogger(),
	}
	ts := newTestServer(b, cfg, MemoryConfig{HistorySize: 16})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var delivered atomic.Int64
	var ready, readers sync.WaitGroup
	conns := make([]net.Conn, 0, fanoutSubscribers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	for range fanoutSubscribers {
		ready.Add(1)
		conn, read, err := dial(ctx, ts.addr(), &delivered, sync.OnceFunc(ready.Done))
		if err != nil {
			b.Fatalf("subscriber %d: %v", len(conns), err)
		}
		conns = append(conns, conn)
		readers.Add(1)
		go func() {
			defer readers.Done()
			read()
		}()
	}
	ready.Wait()

	waitDelivered := func(want int64) {
		deadline := time.Now().Add(time.Minute)
		for delivered.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("delivered %d of %d", delivered.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := ts.hub.Publish(ctx, "fanout", "", fanoutData); err != nil {
			b.Fatal(err)
		}
		if ahead := i + 1 - fanoutWindow; ahead > 0 && i%fanoutWindow == 0 {
			waitDelivered(int64(ahead) * fanoutSubscribers)
		}
	}
	total := int64(b.N) * fanoutSubscribers
	waitDelivered(total)
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(total), "allocs/delivery")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(total), "B/delivery")
	if slow := ts.hub.metrics.slowConsumers.Load(); slow > 0 {
		b.Fatalf("%d subscribers were cut off as slow", slow)
	}
}
