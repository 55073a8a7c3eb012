package server

import (
	"sync"
	"time"
)

// heartbeatSlots is how many slots a heartbeat period is cut into: each
// connection is visited once per period, within period/heartbeatSlots of its
// turn.
const heartbeatSlots = 16

// heartbeats calls every registered connection's beat once per period from
// one goroutine per hub — a timing wheel — instead of one ticker per
// connection: an idle connection then costs no timer and no wakeup of its
// own. The goroutine runs only while connections are registered. The zero
// value is ready to use.
type heartbeats struct {
	mu      sync.Mutex // guards the fields below
	slots   [heartbeatSlots]map[*beat]struct{}
	next    int // the slot the next connection joins
	count   int
	stop    chan struct{} // closed to stop the running wheel; nil when none runs
	current int           // the slot the wheel visits next
}

// beat is one connection's registration.
type beat struct {
	fn   func(now time.Time) // must not block
	slot int
}

// add registers fn, to be called about once per period (the hub's
// Heartbeat: every connection uses the same).
func (hb *heartbeats) add(period time.Duration, fn func(now time.Time)) *beat {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	b := &beat{fn: fn, slot: hb.next}
	hb.next = (hb.next + 1) % heartbeatSlots
	if hb.slots[b.slot] == nil {
		hb.slots[b.slot] = make(map[*beat]struct{})
	}
	hb.slots[b.slot][b] = struct{}{}
	hb.count++
	if hb.stop == nil {
		hb.stop = make(chan struct{})
		go hb.run(hb.stop, period/heartbeatSlots)
	}
	return b
}

// remove unregisters b; the wheel stops with the last connection.
func (hb *heartbeats) remove(b *beat) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if _, ok := hb.slots[b.slot][b]; !ok {
		return
	}
	delete(hb.slots[b.slot], b)
	hb.count--
	if hb.count == 0 {
		close(hb.stop)
		hb.stop = nil
	}
}

func (hb *heartbeats) run(stop chan struct{}, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*beat
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			hb.mu.Lock()
			if hb.stop != stop { // stopped and restarted meanwhile
				hb.mu.Unlock()
				return
			}
			due = due[:0]
			for b := range hb.slots[hb.current] {
				due = append(due, b)
			}
			hb.current = (hb.current + 1) % heartbeatSlots
			hb.mu.Unlock()
			// Outside the lock: beats take connection locks.
			for _, b := range due {
				b.fn(now)
			}
			clear(due)
		}
	}
}
