package server

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// A heartbeat may kick an on-demand outbox while its connection is torn
// down (close, then Wait for the writers) and the previous writer is on
// its way out. The writer the heartbeat starts must be counted before
// close returns, or Wait can return with a writer yet to run (the race
// detector reports WaitGroup.Add racing with Wait; the fault suite's
// handshake flood found it).
func TestOutboxHeartbeatDuringTeardown(t *testing.T) {
	for range 2000 {
		o := newOutbox(8)
		var writers sync.WaitGroup
		idle := make(chan struct{}, 4)
		o.onDemand(&writers, func() {
			for {
				if w := o.take(); w.empty() {
					idle <- struct{}{}
					runtime.Gosched() // on its way out, still counted
					return
				}
			}
		})
		o.push(item{frame: []byte("x")})
		<-idle
		beat := make(chan struct{})
		go func() {
			defer close(beat)
			o.heartbeat(time.Now().Add(time.Hour), 0)
		}()
		runtime.Gosched()
		o.close()
		writers.Wait()
		<-beat
		o.mu.Lock()
		writing := o.writing
		o.mu.Unlock()
		if writing {
			t.Fatal("a writer started after close and Wait")
		}
	}
}
