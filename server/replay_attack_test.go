package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
)

// TestReplayAttack: a WebSocket client that never reads sends frame after
// frame of subscribe + unsubscribe pairs resuming 64 channels of 1,000
// messages each from an old id. The server must stay usable: an honest
// publisher's latency stays within a small factor of the quiet baseline,
// and the heap stays bounded. Before subscribe rate limits, replay limits,
// replays merged outside the broker's lock and queue bounds in bytes, each
// pair sorted 64,000 messages under the broker's lock and queued them all
// (numbers in the README's fault table).
//
// Not parallel: it measures the process's heap and the publisher's
// latency, which tests running beside it would distort (a parallel test
// waits until the sequential ones are done).
func TestReplayAttack(t *testing.T) {
	const (
		channels  = 64
		history   = 1000
		attackers = 2
		window    = 3 * time.Second
	)
	cfg := testConfig()
	cfg.Heartbeat, cfg.WriteTimeout = 30*time.Second, 10*time.Second
	ts := newTestServer(t, cfg, MemoryConfig{HistorySize: history})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("room-%02d", i)
	}
	data := []byte(`{"text":"` + strings.Repeat("x", 100) + `"}`)
	for range history {
		for _, n := range names {
			if _, err := ts.broker.Publish(ctx, n, "message", data); err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	runtime.GC()
	heapBefore := heap()

	// measure publishes on a channel of its own for d and returns the
	// latencies, sorted.
	measure := func(d time.Duration) []time.Duration {
		var lat []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			start := time.Now()
			if _, err := ts.hub.Publish(ctx, "honest", "message", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(2 * time.Millisecond)
		}
		slices.Sort(lat)
		return lat
	}
	pct := func(lat []time.Duration, p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	quiet := measure(window)

	// The attack: frames as big as the server takes, of subscribe +
	// unsubscribe pairs resuming every channel from the first id.
	var pair strings.Builder
	list := `"` + strings.Join(names, `","`) + `"`
	fmt.Fprintf(&pair, `{"type":"subscribe","channels":[%s],"lastEventId":%q}`+"\n", list, idOf(1))
	fmt.Fprintf(&pair, `{"type":"unsubscribe","channels":[%s]}`+"\n", list)
	frame := []byte(strings.Repeat(pair.String(), int(cfg.withDefaults().MaxFrameBytes)/pair.Len()))
	attackCtx, stopAttack := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sent [attackers]int
	for i := range attackers {
		raw, err := dialRawWS(ctx, &net.Dialer{Control: setReceiveBuffer(4 << 10)}, ts.addr())
		assert.NoError(t, err)
		defer raw.conn.Close()
		wg.Go(func() {
			for attackCtx.Err() == nil {
				_ = raw.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				if err := raw.writeFrame(opText, frame); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue // the server reads no faster: try again
					}
					return
				}
				sent[i]++
			}
		})
	}
	var peak uint64
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		for attackCtx.Err() == nil {
			peak = max(peak, heap())
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(window / 3) // let the attack build up
	attacked := measure(window)
	stopAttack()
	wg.Wait()
	<-peakDone
	// What the server keeps for the attackers, whose connections are still
	// open (their write deadline has not passed): live heap after a GC,
	// once the frames already read are handled (on a loaded machine the
	// read loops lag behind the attackers): the least of a few readings
	// over up to 2 s. What is kept for good (queued replays) stays in all.
	retained := int64(math.MaxInt64)
	for range 20 {
		runtime.GC()
		retained = min(retained, int64(heap())-int64(heapBefore))
		if retained < 16<<20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	pairs := 0
	for _, n := range sent {
		pairs += n * (len(frame) / pair.Len())
	}
	growth := int64(peak) - int64(heapBefore)
	t.Logf("history %d channels × %d messages; %d attackers sent %d frames of %d KiB (%d subscribe+unsubscribe pairs)", channels, history, attackers, pairs/(len(frame)/pair.Len()), len(frame)>>10, pairs)
	t.Logf("honest publish latency quiet: p50 %v p99 %v (%d publishes); under attack: p50 %v p99 %v (%d publishes)",
		pct(quiet, 0.5), pct(quiet, 0.99), len(quiet), pct(attacked, 0.5), pct(attacked, 0.99), len(attacked))
	t.Logf("heap in use: %d MiB before the attack, peak %d MiB during it (+%d MiB, garbage included), +%d MiB live after a GC with the attackers still connected", heapBefore>>20, peak>>20, growth>>20, retained>>20)

	// Generous bounds: a loaded machine slows both measurements alike; a
	// broker lock held for whole replays makes publishes wait for them.
	assert.True(t, "p50 under attack within 10× the quiet one (+1 ms)", pct(attacked, 0.5) < 10*pct(quiet, 0.5)+time.Millisecond)
	assert.True(t, "heap peak under +192 MiB", growth < 192<<20)
	assert.True(t, "live heap kept for the attackers under 16 MiB", retained < 16<<20)
}
