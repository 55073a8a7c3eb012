package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
)

// BenchmarkPublishFanout is the server's hot path without sockets: publish
// (validate, id, encode once, history), fan-out into every subscriber's
// outbox, then each writer's take and batch encoding into a pooled buffer,
// as for one write. One op is one publish delivered to every subscriber;
// allocs/op is the cost of a publish whatever the number of subscribers
// (the per-subscriber part is allocation-free).
//
//	go test -run '^$' -bench PublishFanout -benchmem ./server/
func BenchmarkPublishFanout(b *testing.B) {
	for _, subs := range []int{1, 1000} {
		for _, batch := range []int{1, 16} {
			name := strconv.Itoa(subs) + "subs/" + strconv.Itoa(batch) + "perwrite"
			b.Run("sse/"+name, func(b *testing.B) { benchmarkPublishFanout(b, subs, batch, "sse") })
			b.Run("ws/"+name, func(b *testing.B) { benchmarkPublishFanout(b, subs, batch, "ws") })
		}
	}
}

// benchmarkPublishFanout publishes batch messages between writer runs.
func benchmarkPublishFanout(b *testing.B, subs, batch int, wire string) {
	broker := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, HistorySize: 100})
	defer broker.Close()
	h, err := NewHub(&Config{Broker: broker, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	obs := make([]*outbox, subs)
	for i := range obs {
		obs[i] = newOutbox(1024)
		if err := broker.Subscribe(ctx, obs[i], []string{"c"}, shared.ID{}); err != nil {
			b.Fatal(err)
		}
		obs[i].take() // the subscribe's resume item
	}
	written := 0
	discard := func(p []byte, _ bool) error { written += len(p); return nil }
	b.SetBytes(int64(len(fanoutData) * subs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for range min(batch, b.N-i) {
			if _, err := h.Publish(ctx, "c", "", fanoutData); err != nil {
				b.Fatal(err)
			}
		}
		for _, ob := range obs {
			wk := ob.take()
			var n int
			if wire == "sse" {
				n, err = h.sseBatch(wk, time.Now(), sseChunkReserve, discard)
			} else {
				n, err = h.wsBatch(wk, time.Now(), wsFrameReserve, discard)
			}
			if err != nil || n != min(batch, b.N-i) {
				b.Fatalf("wrote %d messages (%v), want %d", n, err, min(batch, b.N-i))
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
}
