package brokertest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// The cases Run runs, in its order: what every broker must do.

// testPublish: ids are totally ordered in one epoch, Head follows them, and
// Publish returns the stored envelope.
func testPublish(t *testing.T, b server.Broker) {
	if err := b.Healthy(); err != nil {
		t.Fatalf("a new broker is unhealthy: %v", err)
	}
	if h := b.Head(); h.Seq != 0 {
		t.Fatalf("Head of an empty broker: want seq 0, got %v", h)
	}
	var last shared.ID
	for i, ch := range []string{"a", "b", "a", "c.d", "e=f", "g:h/i@j"} {
		m := publish(t, b, ch, i)
		if !last.IsZero() && (m.ID.Epoch != last.Epoch || m.ID.Seq <= last.Seq) {
			t.Fatalf("id %v does not follow %v", m.ID, last)
		}
		last = m.ID
		if m.Envelope.ID != m.ID.String() || m.Envelope.Channel != ch || m.Envelope.Event != "message" || string(m.Envelope.Data) != `{"n":`+strconv.Itoa(i)+`}` || m.Envelope.TS <= 0 {
			t.Fatalf("envelope: %+v", m.Envelope)
		}
		if h := b.Head(); h != m.ID {
			t.Fatalf("Head after publishing %v: %v", m.ID, h)
		}
	}
}

// testLive: without a resume id, a subscriber gets Resumed (no messages, no
// gap), then every later message of its channels, in order, once.
func testLive(t *testing.T, b server.Broker) {
	publish(t, b, "a", 0) // before the subscription: not delivered
	r := NewRecorder()
	subscribe(t, b, r, shared.ID{}, "a", "b")
	res := onlyResume(t, r)
	if !slices.Equal(res.Channels, []string{"a", "b"}) || len(res.Messages) != 0 || res.Gap != nil {
		t.Fatalf("Resume: channels %v, %d messages, %s", res.Channels, len(res.Messages), gapString(res.Gap))
	}
	var all []*server.Message
	for i := range 30 {
		all = append(all, publish(t, b, []string{"a", "b", "c"}[i%3], i))
	}
	want := only(all, shared.ID{}, "a", "b")
	syncOn(t, r, want[len(want)-1])
	sameMessages(t, "live", want, r.Received())
}

// testResumeExact: a resume id gets exactly the messages after it of the
// subscribed channels, in id order, without a gap, then the live ones.
func testResumeExact(t *testing.T, b server.Broker) {
	var all []*server.Message
	for i := range 12 {
		all = append(all, publish(t, b, []string{"a", "b", "c"}[i%3], i))
	}
	for _, tt := range []struct {
		name string
		from int // index in all
	}{{"from the first", 0}, {"from the middle", 4}, {"from the last", 11}} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder()
			from := all[tt.from].ID
			subscribe(t, b, r, from, "a", "b")
			res := onlyResume(t, r)
			if res.Gap != nil {
				t.Fatalf("exact resume reported %s", gapString(res.Gap))
			}
			if !slices.Equal(res.Channels, []string{"a", "b"}) {
				t.Fatalf("channels: %v", res.Channels)
			}
			want := only(all, from, "a", "b")
			if len(want) > 0 {
				syncOn(t, r, want[len(want)-1])
			}
			sameMessages(t, "replay", want, r.Received())
			b.Unsubscribe(r)
		})
	}

	// Live messages follow the replay without a duplicate or a hole.
	r := NewRecorder()
	from := all[5].ID
	subscribe(t, b, r, from, "a", "c")
	for i := range 9 {
		all = append(all, publish(t, b, []string{"a", "b", "c"}[i%3], 100+i))
	}
	want := only(all, from, "a", "c")
	syncOn(t, r, want[len(want)-1])
	sameMessages(t, "replay then live", want, r.Received())
}

// testResumeNewChannel: resuming a channel that has no messages, while no
// history has expired, is exact and replays nothing; its first message is
// delivered live.
func testResumeNewChannel(t *testing.T, b server.Broker) {
	m := publish(t, b, "a", 0)
	r := NewRecorder()
	subscribe(t, b, r, m.ID, "fresh")
	res := onlyResume(t, r)
	if res.Gap != nil || len(res.Messages) != 0 {
		t.Fatalf("resume of an empty channel: %d messages, %s", len(res.Messages), gapString(res.Gap))
	}
	first := publish(t, b, "fresh", 1)
	syncOn(t, r, first)
	sameMessages(t, "live", []*server.Message{first}, r.Received())
}

// testResubscribe: a channel the subscriber already holds is not replayed
// again, and each later message arrives once.
func testResubscribe(t *testing.T, b server.Broker) {
	a1, b1 := publish(t, b, "a", 1), publish(t, b, "b", 2)
	r := NewRecorder()
	subscribe(t, b, r, shared.ID{Epoch: a1.ID.Epoch, Seq: a1.ID.Seq - 1}, "a")
	subscribe(t, b, r, shared.ID{Epoch: a1.ID.Epoch, Seq: a1.ID.Seq - 1}, "a", "b")
	rs := r.Resumes()
	if len(rs) != 2 {
		t.Fatalf("want two Resumed calls, got %d", len(rs))
	}
	if !slices.Equal(rs[1].Channels, []string{"b"}) {
		t.Fatalf("second subscribe: want only the new channel, got %v", rs[1].Channels)
	}
	syncOn(t, r, b1)
	sameMessages(t, "replays", []*server.Message{a1, b1}, r.Received())
	a3 := publish(t, b, "a", 3)
	syncOn(t, r, a3)
	sameMessages(t, "one delivery per message", []*server.Message{a1, b1, a3}, r.Received())

	// Held channels with an id of another epoch: nothing new, nothing lost,
	// no gap.
	subscribe(t, b, r, shared.ID{Epoch: a1.ID.Epoch + 1, Seq: 1}, "a", "b")
	rs = r.Resumes()
	if last := rs[len(rs)-1]; len(last.Channels) != 0 || last.Gap != nil || len(last.Messages) != 0 {
		t.Fatalf("subscribe to held channels: channels %v, %d messages, %s", last.Channels, len(last.Messages), gapString(last.Gap))
	}
}

// testGapOnExpiry: when a channel's history no longer holds messages after
// the resume id, the resume reports a gap for that channel (not for one that
// lost nothing), replays what is kept, and resuming from the gap's position
// is exact.
func testGapOnExpiry(t *testing.T, b server.Broker) {
	const lost = 5
	b0 := publish(t, b, "b", 0)
	var all []*server.Message
	all = append(all, b0)
	for i := range HistorySize + lost {
		all = append(all, publish(t, b, "a", 1+i))
	}
	all = append(all, publish(t, b, "b", 1000))

	r := NewRecorder()
	subscribe(t, b, r, b0.ID, "a", "b")
	res := onlyResume(t, r)
	lastLost := all[lost].ID // the fifth message of a
	want := &server.Gap{Channels: []string{"a"}, LastEventID: b0.ID, ID: lastLost, Reason: shared.GapExpired}
	if g := res.Gap; g == nil || !slices.Equal(g.Channels, want.Channels) || g.LastEventID != want.LastEventID || g.ID != want.ID || g.Reason != want.Reason {
		t.Fatalf("gap: want %s, got %s", gapString(want), gapString(res.Gap))
	}
	syncOn(t, r, all[len(all)-1])
	sameMessages(t, "replay of what is kept", all[1+lost:], r.Received())
	b.Unsubscribe(r)

	// From the gap's position: the same messages, no gap.
	r = NewRecorder()
	subscribe(t, b, r, lastLost, "a", "b")
	res = onlyResume(t, r)
	if res.Gap != nil {
		t.Fatalf("resume from the gap's position: %s", gapString(res.Gap))
	}
	syncOn(t, r, all[len(all)-1])
	sameMessages(t, "replay from the gap's position", all[1+lost:], r.Received())
}

// testRestarted: an id of another epoch gets a "restarted" gap for every new
// channel and the channels' whole retained history.
func testRestarted(t *testing.T, b server.Broker) {
	var all []*server.Message
	for i := range 6 {
		all = append(all, publish(t, b, []string{"a", "b", "c"}[i%3], i))
	}
	other := shared.ID{Epoch: all[0].ID.Epoch + 1, Seq: all[len(all)-1].ID.Seq + 10}
	r := NewRecorder()
	subscribe(t, b, r, other, "a", "b")
	res := onlyResume(t, r)
	g := res.Gap
	if g == nil || g.Reason != shared.GapRestarted || !slices.Equal(g.Channels, []string{"a", "b"}) || g.LastEventID != other || g.ID.Epoch != all[0].ID.Epoch {
		t.Fatalf("gap: %s", gapString(g))
	}
	want := only(all, shared.ID{}, "a", "b")
	syncOn(t, r, want[len(want)-1])
	sameMessages(t, "whole history", want, r.Received())
	if !g.ID.Before(want[0].ID) {
		t.Fatalf("gap position %v is past the first replayed message %v", g.ID, want[0].ID)
	}
}

// testFutureID: an id of the current epoch that was never issued is refused
// with server.ErrFutureID, and the subscriber is not attached.
func testFutureID(t *testing.T, b server.Broker) {
	m := publish(t, b, "a", 0)
	for _, seq := range []uint64{m.ID.Seq + 1, m.ID.Seq + 1000} {
		r := NewRecorder()
		err := b.Subscribe(ctxFor(t), r, []string{"a"}, shared.ID{Epoch: m.ID.Epoch, Seq: seq})
		if !errors.Is(err, server.ErrFutureID) {
			t.Fatalf("seq %d after head %d: want ErrFutureID, got %v", seq, m.ID.Seq, err)
		}
		if len(r.Resumes()) != 0 {
			t.Fatal("Resumed was called for a refused subscribe")
		}
		marker := NewRecorder()
		subscribe(t, b, marker, shared.ID{}, "a")
		next := publish(t, b, "a", 1)
		syncOn(t, marker, next)
		if got := r.Received(); len(got) != 0 {
			t.Fatalf("a refused subscriber received %v", IDs(got))
		}
		b.Unsubscribe(marker)
	}
	// The head itself is fine.
	r := NewRecorder()
	subscribe(t, b, r, b.Head(), "a")
	if res := onlyResume(t, r); res.Gap != nil || len(res.Messages) != 0 {
		t.Fatalf("resume from the head: %d messages, %s", len(res.Messages), gapString(res.Gap))
	}
}

// testUnsubscribe: removed channels stop at once, the others go on; unknown
// channels are ignored; no channels means all; a subscriber can come back.
func testUnsubscribe(t *testing.T, b server.Broker) {
	r, marker := NewRecorder(), NewRecorder()
	subscribe(t, b, r, shared.ID{}, "a", "b", "c")
	subscribe(t, b, marker, shared.ID{}, "m")

	b.Unsubscribe(r, "a", "never-subscribed")
	pa, pb := publish(t, b, "a", 1), publish(t, b, "b", 2)
	syncOn(t, r, pb)
	sameMessages(t, "after unsubscribing a", []*server.Message{pb}, r.Received())
	_ = pa

	b.Unsubscribe(r)
	publish(t, b, "b", 3)
	publish(t, b, "c", 4)
	syncOn(t, marker, publish(t, b, "m", 5))
	sameMessages(t, "after unsubscribing everything", []*server.Message{pb}, r.Received())

	b.Unsubscribe(r)      // twice is fine
	b.Unsubscribe(r, "b") // so is a channel it no longer holds
	subscribe(t, b, r, shared.ID{}, "c")
	pc := publish(t, b, "c", 6)
	syncOn(t, r, pc)
	sameMessages(t, "back again", []*server.Message{pb, pc}, r.Received())
}

// testManyChannels: one subscriber on 64 channels, resuming with one id,
// gets every message once in id order.
func testManyChannels(t *testing.T, b server.Broker) {
	const n = 64
	channels := make([]string, n)
	for i := range channels {
		channels[i] = "ch." + strconv.Itoa(i) + "=x"
	}
	var all []*server.Message
	for i := range 2 * n {
		all = append(all, publish(t, b, channels[(i*7)%n], i))
	}
	from := all[n/2].ID
	r := NewRecorder()
	subscribe(t, b, r, from, channels...)
	for i := range 2 * n {
		all = append(all, publish(t, b, channels[(i*5)%n], 1000+i))
	}
	want := only(all, from, channels...)
	syncOn(t, r, want[len(want)-1])
	sameMessages(t, "many channels", want, r.Received())
	if res := onlyResume(t, r); res.Gap != nil || len(res.Channels) != n {
		t.Fatalf("resume: %d channels, %s", len(res.Channels), gapString(res.Gap))
	}
}

// testConcurrentPublishers: publishers racing on one channel get distinct,
// increasing ids, and a subscriber sees all of them in id order.
func testConcurrentPublishers(t *testing.T, b server.Broker) {
	const publishers, each = 4, 40
	r := NewRecorder()
	subscribe(t, b, r, shared.ID{}, "race")
	var (
		mu  sync.Mutex
		all []*server.Message
		wg  sync.WaitGroup
	)
	for p := range publishers {
		wg.Go(func() {
			var last shared.ID
			for i := range each {
				m, err := b.Publish(ctxFor(t), "race", "message", []byte(strconv.Itoa(p*1000+i)))
				if err != nil {
					t.Error(err)
					return
				}
				if !last.IsZero() && !last.Before(m.ID) {
					t.Errorf("publisher %d: id %v after %v", p, m.ID, last)
				}
				last = m.ID
				mu.Lock()
				all = append(all, m)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.SortFunc(all, func(x, y *server.Message) int { return x.ID.Compare(y.ID) })
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Fatalf("id %v issued twice", all[i].ID)
		}
	}
	syncOn(t, r, all[len(all)-1])
	sameMessages(t, "all publishes", all, r.Received())
}

// testOrderingContract: subscribers join with a resume id while publishers
// run; each gets Resumed first, then replay and live messages that are
// exactly the messages of its channels after its id, in id order.
func testOrderingContract(t *testing.T, b server.Broker) {
	const perPublisher = 150
	channels := []string{"a", "b", "c", "d"}
	subscribed := []string{"a", "b", "c"}
	var (
		mu  sync.Mutex
		all []*server.Message
	)
	record := func(m *server.Message) {
		mu.Lock()
		all = append(all, m)
		mu.Unlock()
	}
	for i := range 8 {
		record(publish(t, b, channels[i%len(channels)], i))
	}

	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Go(func() {
			for i := range perPublisher {
				m, err := b.Publish(ctx, channels[(i+p)%len(channels)], "message", []byte(strconv.Itoa(i)))
				if err != nil {
					t.Error(err)
					return
				}
				record(m)
				if i%16 == 0 {
					time.Sleep(time.Millisecond) // let subscribers join mid-stream
				}
			}
		})
	}
	// Subscribers join one by one while the publishers run, each resuming
	// from a recent id (so that history still holds what it missed).
	type joined struct {
		r    *Recorder
		from shared.ID
	}
	var subs []joined
	for range 6 {
		mu.Lock()
		from := all[max(0, len(all)-6)].ID
		mu.Unlock()
		r := NewRecorder()
		subscribe(t, b, r, from, subscribed...)
		subs = append(subs, joined{r, from})
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.SortFunc(all, func(x, y *server.Message) int { return x.ID.Compare(y.ID) })
	for i, s := range subs {
		t.Run("subscriber "+strconv.Itoa(i), func(t *testing.T) {
			want := only(all, s.from, subscribed...)
			syncOn(t, s.r, want[len(want)-1])
			s.r.mu.Lock()
			first := s.r.calls[0]
			s.r.mu.Unlock()
			if first.resume == nil {
				t.Fatal("first call was a Deliver, not Resumed")
			}
			res := onlyResume(t, s.r)
			if res.Gap != nil {
				t.Fatalf("resume from a recent id reported %s", gapString(res.Gap))
			}
			sameMessages(t, "replay then deliveries", want, s.r.Received())
		})
	}
}

// testFullSubscriber: a subscriber whose queue is full misses messages (the
// hub disconnects it) without holding up the others.
func testFullSubscriber(t *testing.T, b server.Broker) {
	full, ok := NewRecorder(), NewRecorder()
	subscribe(t, b, full, shared.ID{}, "a")
	subscribe(t, b, ok, shared.ID{}, "a")
	full.Refuse(true)
	var all []*server.Message
	for i := range 5 {
		all = append(all, publish(t, b, "a", i))
	}
	syncOn(t, ok, all[len(all)-1])
	sameMessages(t, "the other subscriber", all, ok.Received())
}

// testClose: a closed broker refuses Publish and Subscribe with
// server.ErrBrokerClosed and reports itself unhealthy; Close is idempotent.
func testClose(t *testing.T, b server.Broker) {
	publish(t, b, "a", 0)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Publish(ctxFor(t), "a", "message", []byte(`1`)); !errors.Is(err, server.ErrBrokerClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := b.Subscribe(ctxFor(t), NewRecorder(), []string{"a"}, shared.ID{}); !errors.Is(err, server.ErrBrokerClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if b.Healthy() == nil {
		t.Fatal("a closed broker reports healthy")
	}
}

// testBinary: a server.BinaryBroker delivers binary messages live and
// replays them as binary, with the same bytes and encodings, interleaved in
// id order with JSON messages. Brokers that are not BinaryBrokers skip it.
func testBinary(t *testing.T, b server.Broker) {
	bb, ok := b.(server.BinaryBroker)
	if !ok {
		t.Skip("the broker does not implement server.BinaryBroker")
	}
	live := NewRecorder()
	subscribe(t, b, live, shared.ID{}, "bin")
	payloads := [][]byte{{0, 1, 2, 0xff}, {}, []byte("not JSON {")}
	var want []*server.Message
	for i, p := range payloads {
		m, err := bb.PublishBinary(ctxFor(t), "bin", "chunk", p)
		if err != nil {
			t.Fatalf("PublishBinary %d: %v", i, err)
		}
		if !m.Binary() || !bytes.Equal(m.Envelope.Data, p) {
			t.Fatalf("PublishBinary %d returned %+v", i, m.Envelope)
		}
		want = append(want, m, publish(t, b, "bin", i))
	}
	syncOn(t, live, want[len(want)-1])
	sameMessages(t, "live", want, live.Received())

	replay := NewRecorder()
	subscribe(t, b, replay, shared.ID{Epoch: want[0].ID.Epoch, Seq: want[0].ID.Seq - 1}, "bin")
	syncOn(t, replay, want[len(want)-1])
	got := replay.Received()
	sameMessages(t, "replay", want, got)
	for i, m := range got {
		if !bytes.Equal(m.WS(), want[i].WS()) || !bytes.Equal(m.SSE(), want[i].SSE()) {
			t.Fatalf("replayed message %s: encodings differ from the published one", m.Envelope.ID)
		}
	}
}
