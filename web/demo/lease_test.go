package demo

import (
	"context"
	"testing"
	"time"
)

// TestWatchLease pins the README's "a 30 s lease": one watch keeps a
// generator running for 30 s and no longer.
func TestWatchLease(t *testing.T) {
	if watchLease != 30*time.Second {
		t.Fatalf("watchLease = %v, the README says 30 s", watchLease)
	}
	var l lease
	t0 := time.Now()
	if l.held(t0) {
		t.Fatal("a lease nobody renewed is held")
	}
	l.renew(t0)
	if !l.held(t0.Add(watchLease - time.Millisecond)) {
		t.Fatal("the lease ended before 30 s")
	}
	if l.held(t0.Add(watchLease)) {
		t.Fatal("the lease outlived 30 s")
	}
}

// TestGeneratorsStopWhenTheLeaseEnds: once every lease has run out, the
// feed, the lab stream and the pulse publish nothing more.
func TestGeneratorsStopWhenTheLeaseEnds(t *testing.T) {
	d, h := newTestDemo(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	defer func() { cancel(); <-done }()
	call(t, d, "POST", "/demo/feed/watch", "", "")
	call(t, d, "POST", "/demo/lab/watch", "", "")
	deadline := time.Now().Add(5 * time.Second)
	for len(h.on(FeedChannel)) == 0 || len(h.on(LabChannel)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("feed %d, lab %d messages after 5 s of watching", len(h.on(FeedChannel)), len(h.on(LabChannel)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The leases run out (as 30 s after the last watch).
	now := time.Now().UnixNano()
	d.feed.lease.until.Store(now)
	d.lab.lease.until.Store(now)
	d.pulse.until.Store(now)
	time.Sleep(100 * time.Millisecond) // a generator mid-tick finishes it
	feed, lab, pulse := len(h.on(FeedChannel)), len(h.on(LabChannel)), len(h.on(PulseChannel))
	time.Sleep(500 * time.Millisecond)
	if f, l, p := len(h.on(FeedChannel)), len(h.on(LabChannel)), len(h.on(PulseChannel)); f != feed || l != lab || p != pulse {
		t.Fatalf("after the leases ended: feed %d → %d, lab %d → %d, pulse %d → %d messages", feed, f, lab, l, pulse, p)
	}
}
