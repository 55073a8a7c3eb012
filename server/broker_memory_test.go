package server

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// recorder is a Subscriber that records what a broker hands it, in order.
type recorder struct {
	mu      sync.Mutex // guards the fields below
	calls   []string   // "resumed" or a message id, in call order
	resumes []*Resume
	msgs    []*Message
	full    bool // Deliver refuses (a full queue)
}

func (r *recorder) Deliver(m *Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return false
	}
	r.calls = append(r.calls, m.Envelope.ID)
	r.msgs = append(r.msgs, m)
	return true
}

func (r *recorder) Resumed(res *Resume) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "resumed")
	r.resumes = append(r.resumes, res)
	return true
}

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, m := range r.msgs {
		ids = append(ids, m.Envelope.ID)
	}
	return ids
}

func (r *recorder) lastResume(t *testing.T) *Resume {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.resumes) == 0 {
		t.Fatal("Resumed was not called")
	}
	return r.resumes[len(r.resumes)-1]
}

func ids(ms []*Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Envelope.ID)
	}
	return out
}

// fakeClock is MemoryConfig.Now under the test's control.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newBroker(t *testing.T, cfg MemoryConfig) *MemoryBroker {
	t.Helper()
	if cfg.Epoch == 0 {
		cfg.Epoch = testEpoch
	}
	b := NewMemoryBroker(&cfg)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustPublish(t *testing.T, b Broker, channel string) *Message {
	t.Helper()
	m, err := b.Publish(context.Background(), channel, "message", []byte(`1`))
	assert.NoError(t, err)
	return m
}

func mustSubscribe(t *testing.T, b Broker, sub Subscriber, from string, channels ...string) {
	t.Helper()
	var id shared.ID
	if from != "" {
		id = shared.MustParseID(from)
	}
	assert.NoError(t, b.Subscribe(context.Background(), sub, channels, id))
}

func TestMemoryIDs(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	assert.Equal(t, "head before any message", b.Head(), shared.ID{Epoch: testEpoch})
	for i, ch := range []string{"a", "b", "a", "c"} {
		m := mustPublish(t, b, ch)
		assert.Equal(t, "id", m.Envelope.ID, idOf(uint64(i+1)))
		assert.Equal(t, "ID", m.ID, shared.ID{Epoch: testEpoch, Seq: uint64(i + 1)})
	}
	assert.Equal(t, "head", b.Head(), shared.ID{Epoch: testEpoch, Seq: 4})

	before := uint64(time.Now().UnixMilli())
	d := NewMemoryBroker(nil)
	defer d.Close()
	assert.True(t, "the default epoch is the start time", d.Epoch() >= before && d.Epoch() <= uint64(time.Now().UnixMilli()))
}

// TestMemoryOrderingContract: with publishers running concurrently,
// Subscribe calls Resumed exactly once, before any Deliver, and the replay
// followed by the deliveries is every message of the channels after the
// resume id, in id order, without duplicates.
func TestMemoryOrderingContract(t *testing.T) {
	t.Parallel()
	const perPublisher = 500
	b := newBroker(t, MemoryConfig{HistorySize: 4 * perPublisher})
	channels := []string{"a", "b", "c", "d"}
	subscribed := []string{"a", "b", "c"}

	// Some history to resume from.
	for i := range 40 {
		mustPublish(t, b, channels[i%len(channels)])
	}
	from := idOf(10)

	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perPublisher {
				if _, err := b.Publish(context.Background(), channels[(i+p)%len(channels)], "message", []byte(`0`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	published := make(chan struct{})
	go func() { wg.Wait(); close(published) }()
	// Subscribers join one by one while the publishers run.
	subs := make([]*recorder, 8)
	for i := range subs {
		for b.Head().Seq < uint64(40+i*2*perPublisher/len(subs)) {
			select {
			case <-published:
			default:
				runtime.Gosched()
				continue
			}
			break
		}
		subs[i] = &recorder{}
		mustSubscribe(t, b, subs[i], from, subscribed...)
	}
	<-published

	// What a subscriber must have seen: every message of its channels
	// after from, in id order.
	var want []string
	b.mu.Lock()
	for _, name := range subscribed {
		ch := b.channels[name]
		for i := range ch.n {
			if m := ch.history[(ch.head+i)%len(ch.history)]; m.ID.Seq > 10 {
				want = append(want, m.Envelope.ID)
			}
		}
	}
	b.mu.Unlock()
	slices.SortFunc(want, func(x, y string) int { return shared.MustParseID(x).Compare(shared.MustParseID(y)) })

	for i, r := range subs {
		t.Run("subscriber "+strconv.Itoa(i), func(t *testing.T) {
			assert.Equal(t, "first call", r.calls[0], "resumed")
			assert.Equal(t, "Resumed calls", len(r.resumes), 1)
			res := r.resumes[0]
			assert.Equal(t, "channels", res.Channels, subscribed)
			assert.True(t, "no gap", res.Gap == nil)
			got := append(ids(res.Messages), r.delivered()...)
			assert.Equal(t, "replay then deliveries", got, want)
		})
	}
}

// TestMemoryResubscribe: a channel the subscriber already holds is not
// replayed again; a new one is.
func TestMemoryResubscribe(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	a1, b2 := mustPublish(t, b, "a"), mustPublish(t, b, "b")
	r := &recorder{}
	mustSubscribe(t, b, r, idOf(0), "a")
	assert.Equal(t, "first replay", ids(r.lastResume(t).Messages), []string{a1.Envelope.ID})
	mustSubscribe(t, b, r, idOf(0), "a", "b")
	res := r.lastResume(t)
	assert.Equal(t, "only the new channel", res.Channels, []string{"b"})
	assert.Equal(t, "only its messages", ids(res.Messages), []string{b2.Envelope.ID})
	a3 := mustPublish(t, b, "a")
	assert.Equal(t, "one delivery per message", r.delivered(), []string{a3.Envelope.ID})

	// Subscribing again to held channels with an id of another epoch adds
	// nothing and loses nothing: no gap notice either.
	mustSubscribe(t, b, r, "6-1", "a", "b")
	res = r.lastResume(t)
	assert.Equal(t, "no new channel", len(res.Channels), 0)
	assert.True(t, "no gap for channels already held: "+gapString(res.Gap), res.Gap == nil)
}

func gapString(g *Gap) string {
	if g == nil {
		return "none"
	}
	return g.Reason + " " + strings.Join(g.Channels, ",") + " at " + g.ID.String()
}

// TestMemoryRing: history grows in steps up to HistorySize, then evicts the
// oldest, remembering the highest evicted seq.
func TestMemoryRing(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{HistorySize: 20})
	ring := func() (capacity, n int, evicted uint64, oldest string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		ch := b.channels["c"]
		return len(ch.history), ch.n, ch.evictedThrough, ch.history[ch.head].Envelope.ID
	}
	tests := []struct {
		publish   int // messages published so far
		capacity  int
		n         int
		evicted   uint64
		oldestSeq uint64
	}{
		{1, 8, 1, 0, 1},
		{8, 8, 8, 0, 1},
		{9, 16, 9, 0, 1},
		{16, 16, 16, 0, 1},
		{17, 20, 17, 0, 1},
		{20, 20, 20, 0, 1},
		{21, 20, 20, 1, 2},
		{45, 20, 20, 25, 26},
	}
	published := 0
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.publish)+" messages", func(t *testing.T) {
			for ; published < tt.publish; published++ {
				mustPublish(t, b, "c")
			}
			capacity, n, evicted, oldest := ring()
			assert.Equal(t, "ring capacity", capacity, tt.capacity)
			assert.Equal(t, "retained", n, tt.n)
			assert.Equal(t, "evicted through", evicted, tt.evicted)
			assert.Equal(t, "oldest", oldest, idOf(tt.oldestSeq))
		})
	}

	r := &recorder{}
	mustSubscribe(t, b, r, idOf(3), "c")
	res := r.lastResume(t)
	assert.Equal(t, "gap", res.Gap, &Gap{Channels: []string{"c"}, LastEventID: shared.MustParseID(idOf(3)), ID: shared.MustParseID(idOf(25)), Reason: shared.GapExpired})
	assert.Equal(t, "replayed", len(res.Messages), 20)
	assert.Equal(t, "first replayed", res.Messages[0].Envelope.ID, idOf(26))
}

// TestMemoryTTL: messages older than HistoryTTL are evicted (on publish, on
// subscribe, by the janitor's sweep), and an idle, empty channel is
// forgotten.
func TestMemoryTTL(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	b := newBroker(t, MemoryConfig{HistoryTTL: time.Minute, Now: clock.Now})
	mustPublish(t, b, "c") // 1 at 0s
	clock.advance(30 * time.Second)
	mustPublish(t, b, "c") // 2 at 30s
	clock.advance(20 * time.Second)
	mustPublish(t, b, "c") // 3 at 50s
	clock.advance(20 * time.Second)

	// At 70s, 1 has expired.
	r := &recorder{}
	mustSubscribe(t, b, r, idOf(0), "c")
	res := r.lastResume(t)
	assert.Equal(t, "replayed", ids(res.Messages), []string{idOf(2), idOf(3)})
	assert.Equal(t, "gap", res.Gap, &Gap{Channels: []string{"c"}, LastEventID: shared.MustParseID(idOf(0)), ID: shared.MustParseID(idOf(1)), Reason: shared.GapExpired})

	// At 200s everything has expired; resuming from the last id is exact.
	clock.advance(130 * time.Second)
	r2 := &recorder{}
	mustSubscribe(t, b, r2, idOf(3), "c")
	res = r2.lastResume(t)
	assert.Equal(t, "nothing to replay", len(res.Messages), 0)
	assert.True(t, "no gap from the last id", res.Gap == nil)
	mustSubscribe(t, b, r2, "", "d") // unaffected by c

	// Once nobody holds it, the sweep forgets the empty channel, and
	// remembers how far it had evicted.
	b.Unsubscribe(r)
	b.Unsubscribe(r2)
	b.sweep()
	b.mu.Lock()
	_, kept := b.channels["c"]
	dropped := b.droppedThrough
	b.mu.Unlock()
	assert.True(t, "channel forgotten", !kept)
	assert.Equal(t, "droppedThrough", dropped, uint64(3))
}

// TestMemoryDroppedThrough: a channel the broker no longer tracks might have
// had messages up to droppedThrough: resuming it from an earlier id reports
// a gap (loud, not lossy), resuming from droppedThrough or later does not.
func TestMemoryDroppedThrough(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	b := newBroker(t, MemoryConfig{HistoryTTL: time.Minute, Now: clock.Now})
	for range 3 {
		mustPublish(t, b, "a")
	}
	clock.advance(2 * time.Minute)
	b.sweep() // "a" expires and is forgotten; droppedThrough = 3

	tests := []struct {
		name    string
		channel string
		from    string
		gap     bool
	}{
		{"the dropped channel, from before its evictions", "a", idOf(1), true},
		{"a never-seen channel, from before droppedThrough", "z", idOf(2), true},
		{"a never-seen channel, from droppedThrough", "y", idOf(3), false},
		{"the dropped channel, from droppedThrough", "a", idOf(3), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			mustSubscribe(t, b, r, tt.from, tt.channel)
			defer b.Unsubscribe(r)
			res := r.lastResume(t)
			if !tt.gap {
				assert.True(t, "no gap", res.Gap == nil)
				return
			}
			assert.Equal(t, "gap", res.Gap, &Gap{Channels: []string{tt.channel}, LastEventID: shared.MustParseID(tt.from), ID: shared.MustParseID(idOf(3)), Reason: shared.GapExpired})
		})
	}
}

// TestMemoryNoHistory: a negative HistorySize keeps nothing; every resume
// from before the head reports a gap.
func TestMemoryNoHistory(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{HistorySize: -1})
	mustPublish(t, b, "c")
	mustPublish(t, b, "c")
	r := &recorder{}
	mustSubscribe(t, b, r, idOf(1), "c")
	res := r.lastResume(t)
	assert.Equal(t, "nothing replayed", len(res.Messages), 0)
	assert.Equal(t, "gap", res.Gap, &Gap{Channels: []string{"c"}, LastEventID: shared.MustParseID(idOf(1)), ID: shared.MustParseID(idOf(2)), Reason: shared.GapExpired})
	m := mustPublish(t, b, "c")
	assert.Equal(t, "live delivery still works", r.delivered(), []string{m.Envelope.ID})
}

// TestMemoryRestarted: an id from another epoch gets a "restarted" gap over
// every channel, and everything retained.
func TestMemoryRestarted(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	m1, m2 := mustPublish(t, b, "a"), mustPublish(t, b, "b")
	r := &recorder{}
	mustSubscribe(t, b, r, "6-99", "a", "b", "c")
	res := r.lastResume(t)
	assert.Equal(t, "replayed", ids(res.Messages), []string{m1.Envelope.ID, m2.Envelope.ID})
	assert.Equal(t, "gap", res.Gap, &Gap{Channels: []string{"a", "b", "c"}, LastEventID: shared.MustParseID("6-99"), ID: shared.MustParseID(idOf(0)), Reason: shared.GapRestarted})
}

// TestMemoryUnsubscribe: by channel, all at once, unknown channels and
// subscribers, and what each leaves behind.
func TestMemoryUnsubscribe(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	r := &recorder{}
	mustSubscribe(t, b, r, "", "a", "b", "c")
	b.Unsubscribe(r, "a", "never-held")
	b.Unsubscribe(&recorder{}, "b") // an unknown subscriber
	mA, mB := mustPublish(t, b, "a"), mustPublish(t, b, "b")
	assert.Equal(t, "only b delivered", r.delivered(), []string{mB.Envelope.ID})
	_ = mA

	b.Unsubscribe(r)
	mustPublish(t, b, "b")
	mustPublish(t, b, "c")
	assert.Equal(t, "nothing after unsubscribing from all", r.delivered(), []string{mB.Envelope.ID})
	b.mu.Lock()
	_, held := b.subs[r]
	_, cKept := b.channels["c"] // has history: kept for resume
	b.mu.Unlock()
	assert.True(t, "subscriber forgotten", !held)
	assert.True(t, "a channel with history is kept", cKept)

	// An empty channel nobody holds is forgotten at once.
	mustSubscribe(t, b, r, "", "empty")
	b.Unsubscribe(r, "empty")
	b.mu.Lock()
	_, emptyKept := b.channels["empty"]
	b.mu.Unlock()
	assert.True(t, "empty channel forgotten", !emptyKept)
}

// TestMemoryFullSubscriber: a subscriber whose queue is full does not stop
// delivery to the others.
func TestMemoryFullSubscriber(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	full, ok := &recorder{full: true}, &recorder{}
	mustSubscribe(t, b, full, "", "c")
	mustSubscribe(t, b, ok, "", "c")
	m := mustPublish(t, b, "c")
	assert.Equal(t, "the other subscriber", ok.delivered(), []string{m.Envelope.ID})
}

// TestMemoryErrors: future ids, cancelled contexts and a closed broker.
func TestMemoryErrors(t *testing.T) {
	t.Parallel()
	b := newBroker(t, MemoryConfig{})
	mustPublish(t, b, "c")
	r := &recorder{}
	err := b.Subscribe(context.Background(), r, []string{"c"}, shared.ID{Epoch: testEpoch, Seq: 2})
	assert.ErrorIs(t, err, ErrFutureID)
	assert.Equal(t, "no Resumed on failure", len(r.calls), 0)
	b.mu.Lock()
	_, held := b.subs[r]
	b.mu.Unlock()
	assert.True(t, "not subscribed", !held)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = b.Publish(ctx, "c", "message", []byte(`1`))
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, b.Subscribe(ctx, r, []string{"c"}, shared.ID{}), context.Canceled)

	assert.NoError(t, b.Healthy())
	assert.NoError(t, b.Close())
	assert.NoError(t, b.Close()) // twice is fine
	assert.ErrorIs(t, b.Healthy(), ErrBrokerClosed)
	_, err = b.Publish(context.Background(), "c", "message", []byte(`1`))
	assert.ErrorIs(t, err, ErrBrokerClosed)
	assert.ErrorIs(t, b.Subscribe(context.Background(), r, []string{"c"}, shared.ID{}), ErrBrokerClosed)
}
