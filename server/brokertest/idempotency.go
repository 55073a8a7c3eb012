package brokertest

import (
	"sync"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// testIdempotent: a repeat of a key on a channel stores nothing and answers
// the first id, concurrent repeats included; the same key on another
// channel, and another key, are new publishes. Brokers that are not
// IdempotentBrokers skip it.
func testIdempotent(t *testing.T, b server.Broker) {
	ib, ok := b.(server.IdempotentBroker)
	if !ok {
		t.Skip("not a server.IdempotentBroker")
	}
	ctx := ctxFor(t)
	once := func(key, channel string, binary bool) (shared.ID, bool) {
		t.Helper()
		id, dup, err := ib.PublishOnce(ctx, key, channel, "message", []byte(`{"k":"`+key+`"}`), binary)
		if err != nil {
			t.Fatalf("PublishOnce %q on %s: %v", key, channel, err)
		}
		return id, dup
	}
	start := publish(t, b, "a", 0)
	first, dup := once("k1", "a", false)
	if dup {
		t.Fatal("a new key was reported as a duplicate")
	}
	if again, dup := once("k1", "a", false); again != first || !dup {
		t.Fatalf("repeat of k1 on a: want %v (dup), got %v (dup %v)", first, again, dup)
	}
	other, dup := once("k1", "b", false)
	if dup || other == first {
		t.Fatalf("k1 on another channel: got %v (dup %v), want a new id", other, dup)
	}
	second, dup := once("k2", "a", true)
	if dup || second == first {
		t.Fatalf("k2 on a: got %v (dup %v), want a new id", second, dup)
	}
	if again, dup := once("k2", "a", true); again != second || !dup {
		t.Fatalf("repeat of binary k2: want %v (dup), got %v (dup %v)", second, again, dup)
	}

	// Concurrent repeats, as a client's retry racing its first attempt.
	var wg sync.WaitGroup
	ids := make([]shared.ID, 8)
	for i := range ids {
		wg.Go(func() { ids[i], _ = once("k3", "a", false) })
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent repeats of k3 got different ids: %v", ids)
		}
	}

	// What is stored: one message per key and channel.
	marker := publish(t, b, "a", 1)
	r := NewRecorder()
	subscribe(t, b, r, start.ID, "a", "b")
	syncOn(t, r, marker)
	want := []string{first.String(), other.String(), second.String(), ids[0].String(), marker.Envelope.ID}
	got := IDs(r.Received())
	if len(got) != len(want) {
		t.Fatalf("stored after the repeats: want ids %v, got %v", want, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored after the repeats: want ids %v, got %v", want, got)
		}
	}
}
