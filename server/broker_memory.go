package server

import (
	"context"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
)

// MemoryConfig configures a MemoryBroker. The zero value works.
type MemoryConfig struct {
	// HistorySize is how many messages each channel keeps for resume.
	// Defaults to 1000. Negative keeps none (every resume reports a gap).
	HistorySize int
	// HistoryTTL is how long a message is kept for resume. Defaults to
	// 10 minutes.
	HistoryTTL time.Duration
	// Epoch names this broker's id sequence. Defaults to the start time in
	// Unix milliseconds, so ids issued before a restart are recognised as
	// such. Tests set it to get predictable ids.
	Epoch uint64
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// MaxChannels bounds the channel records the broker keeps: past it,
	// the least recently published channels without subscribers are
	// forgotten with their history (resuming them reports a gap).
	// Defaults to 100000. Negative: no bound.
	MaxChannels int
	// MaxReplay bounds the messages one resume replays, so that one
	// request cannot make the broker and the connection's queue handle a
	// whole history: past it the oldest MaxReplay are replayed and the
	// client is told to resume from the last of them (Resume.Continue).
	// Defaults to 10000. Negative: no bound.
	MaxReplay int
	// MaxHistoryBytes bounds the size of all retained messages together:
	// past it, the oldest messages of any channel are evicted (resuming
	// from before them reports a gap). Defaults to 256 MiB. Negative: no
	// bound.
	MaxHistoryBytes int64
	// IdempotencyWindow is how long a publish's idempotency key is
	// remembered (PublishOnce). Defaults to 2 minutes.
	IdempotencyWindow time.Duration
	// MaxIdempotencyKeys bounds the keys remembered at once: past it, a
	// keyed publish with a new key is refused with shared.CodeRateLimited
	// until older keys leave the window (remembered keys are never
	// evicted early, so a retry is never stored twice). Defaults to
	// 100000.
	MaxIdempotencyKeys int
}

// MemoryBroker keeps history and subscriptions in this process: the
// zero-setup default. Ids are "<epoch>-<seq>" with one seq for all channels.
type MemoryBroker struct {
	cfg  MemoryConfig
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex // guards everything below
	// seq is the last id issued.
	seq      uint64
	channels map[string]*memChannel
	subs     map[Subscriber]*memSub
	// droppedThrough is the highest seq any dropped channel record had
	// evicted. A channel created later may have had messages up to there, so
	// resuming it from an earlier id reports a gap rather than risk a silent
	// hole.
	droppedThrough uint64
	closed         bool
	bound          channelBound
	// catchingUp counts the subscribers in memSub.catchingUp mode, so that
	// publish looks them up only while there are some.
	catchingUp int
	keys       memKeys
}

type memChannel struct {
	name string
	// history holds the retained messages, oldest first, in a ring.
	history []*Message
	head    int // index of the oldest message
	n       int // retained count
	// evictedThrough is the highest seq of a message evicted from history.
	evictedThrough uint64
	subs           []Subscriber
	subIndex       map[Subscriber]int
}

type memSub struct {
	channels map[string]*memChannel
	// catchingUp is set while a Subscribe merges its replay without the
	// lock: live messages for sub wait in pending (at most MaxReplay;
	// past it, overflowed ends the replay short).
	catchingUp bool
	pending    []*Message
	overflowed bool
}

// NewMemoryBroker returns a running in-memory broker. Close stops its history
// janitor.
func NewMemoryBroker(cfg *MemoryConfig) *MemoryBroker {
	var c MemoryConfig
	if cfg != nil {
		c = *cfg
	}
	if c.HistorySize == 0 {
		c.HistorySize = 1000
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxChannels == 0 {
		c.MaxChannels = defaultMaxTrackedChannels
	}
	if c.MaxReplay == 0 {
		c.MaxReplay = defaultMaxReplay
	}
	if c.MaxHistoryBytes == 0 {
		c.MaxHistoryBytes = defaultMaxHistoryBytes
	}
	if c.IdempotencyWindow <= 0 {
		c.IdempotencyWindow = defaultIdempotencyWindow
	}
	if c.MaxIdempotencyKeys <= 0 {
		c.MaxIdempotencyKeys = defaultMaxIdempotencyKeys
	}
	if c.Epoch == 0 {
		c.Epoch = uint64(c.Now().UnixMilli())
	}
	b := &MemoryBroker{
		cfg:      c,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		channels: make(map[string]*memChannel),
		subs:     make(map[Subscriber]*memSub),
	}
	go b.janitor()
	return b
}

// Epoch returns the broker's epoch.
func (b *MemoryBroker) Epoch() uint64 { return b.cfg.Epoch }

func (b *MemoryBroker) janitor() {
	defer close(b.done)
	every := max(b.cfg.HistoryTTL/4, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.sweep()
		}
	}
}

// sweep evicts expired history and forgets idle, empty channels.
func (b *MemoryBroker) sweep() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.keys.expire(now.Add(-b.cfg.IdempotencyWindow))
	for name, ch := range b.channels {
		b.evictExpired(ch, now)
		if ch.n == 0 && len(ch.subs) == 0 {
			b.droppedThrough = max(b.droppedThrough, ch.evictedThrough)
			delete(b.channels, name)
		}
	}
}

// Publish implements Broker.
func (b *MemoryBroker) Publish(ctx context.Context, channel, event string, data []byte) (*Message, error) {
	return b.publish(ctx, channel, event, data, NewMessage)
}

// PublishBinary implements BinaryBroker.
func (b *MemoryBroker) PublishBinary(ctx context.Context, channel, event string, data []byte) (*Message, error) {
	return b.publish(ctx, channel, event, data, NewBinaryMessage)
}

// publish stores the message newMessage builds (NewMessage or
// NewBinaryMessage) and delivers it.
func (b *MemoryBroker) publish(ctx context.Context, channel, event string, data []byte, newMessage func(shared.ID, string, string, []byte, int64) *Message) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	return b.publishLocked(channel, event, data, newMessage, b.cfg.Now()), nil
}

// publishLocked is publish with b.mu held and the broker open.
func (b *MemoryBroker) publishLocked(channel, event string, data []byte, newMessage func(shared.ID, string, string, []byte, int64) *Message, now time.Time) *Message {
	b.seq++
	m := newMessage(shared.ID{Epoch: b.cfg.Epoch, Seq: b.seq}, channel, event, data, now.UnixMilli())
	ch := b.channel(channel)
	b.retain(ch, m, now)
	for _, s := range ch.subs {
		if b.catchingUp > 0 && b.heldBack(s, m) {
			continue
		}
		s.Deliver(m) // a full queue disconnects that subscriber; the others go on
	}
	return m
}

func (b *MemoryBroker) channel(name string) *memChannel {
	ch := b.channels[name]
	if ch == nil {
		b.makeRoom()
		ch = &memChannel{name: name, subIndex: make(map[Subscriber]int), evictedThrough: b.droppedThrough}
		b.channels[name] = ch
	}
	return ch
}

func (b *MemoryBroker) retain(ch *memChannel, m *Message, now time.Time) {
	if b.cfg.HistorySize < 0 {
		ch.evictedThrough = m.ID.Seq
		return
	}
	b.evictExpired(ch, now)
	if ch.n == b.cfg.HistorySize {
		b.evictOldest(ch)
	}
	if ch.n == len(ch.history) { // grow the ring, up to HistorySize
		grown := make([]*Message, min(max(2*len(ch.history), 8), b.cfg.HistorySize))
		for i := 0; i < ch.n; i++ {
			grown[i] = ch.history[(ch.head+i)%len(ch.history)]
		}
		ch.history, ch.head = grown, 0
	}
	ch.history[(ch.head+ch.n)%len(ch.history)] = m
	ch.n++
	b.retainedNew(ch, m)
}

func (b *MemoryBroker) evictOldest(ch *memChannel) {
	old := ch.history[ch.head]
	ch.history[ch.head] = nil
	ch.head = (ch.head + 1) % len(ch.history)
	ch.n--
	ch.evictedThrough = old.ID.Seq
	b.released(old)
}

func (b *MemoryBroker) evictExpired(ch *memChannel, now time.Time) {
	cutoff := now.Add(-b.cfg.HistoryTTL).UnixMilli()
	for ch.n > 0 && ch.history[ch.head].Envelope.TS < cutoff {
		b.evictOldest(ch)
	}
	if ch.n == 0 && len(ch.history) > 8 {
		ch.history, ch.head = nil, 0 // give an idle channel's ring back
	}
}

// Subscribe implements Broker. A resume collects its replay in two steps
// so that publishes do not wait for it (broker_memory_replay.go): under the
// lock, the retained messages after the id are copied channel by channel;
// without it, they are merged into id order, up to MaxReplay; under the
// lock again, sub gets the replay, then the live messages that arrived
// meanwhile.
func (b *MemoryBroker) Subscribe(ctx context.Context, sub Subscriber, channels []string, from shared.ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBrokerClosed
	}
	resuming := !from.IsZero()
	if resuming && from.Epoch == b.cfg.Epoch && from.Seq > b.seq {
		b.mu.Unlock()
		return ErrFutureID
	}
	ms := b.subs[sub]
	if ms == nil {
		ms = &memSub{channels: make(map[string]*memChannel)}
		b.subs[sub] = ms
	}
	var fresh []string
	for _, name := range channels {
		if _, dup := ms.channels[name]; dup {
			continue
		}
		ch := b.channel(name)
		ms.channels[name] = ch
		ch.subIndex[sub] = len(ch.subs)
		ch.subs = append(ch.subs, sub)
		fresh = append(fresh, name)
	}
	if !resuming || len(fresh) == 0 {
		// Nothing to replay; a restart loses messages only of the channels
		// subscribed now, so a subscribe that adds none gets no gap notice.
		sub.Resumed(&Resume{Channels: fresh})
		b.mu.Unlock()
		return nil
	}
	rp := b.startReplay(ms, fresh, from)
	b.mu.Unlock()

	rp.merge(b.cfg.MaxReplay)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishReplay(sub, ms, rp)
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(sub Subscriber, channels ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ms := b.subs[sub]
	if ms == nil {
		return
	}
	if len(channels) == 0 {
		for name, ch := range ms.channels {
			b.detach(ch, sub)
			delete(ms.channels, name)
		}
	}
	for _, name := range channels {
		if ch := ms.channels[name]; ch != nil {
			b.detach(ch, sub)
			delete(ms.channels, name)
		}
	}
	if len(ms.channels) == 0 {
		delete(b.subs, sub)
	}
}

func (b *MemoryBroker) detach(ch *memChannel, sub Subscriber) {
	i, ok := ch.subIndex[sub]
	if !ok {
		return
	}
	last := len(ch.subs) - 1
	ch.subs[i] = ch.subs[last]
	ch.subIndex[ch.subs[i]] = i
	ch.subs[last] = nil
	ch.subs = ch.subs[:last]
	delete(ch.subIndex, sub)
	if len(ch.subs) == 0 && ch.n == 0 {
		b.droppedThrough = max(b.droppedThrough, ch.evictedThrough)
		delete(b.channels, ch.name)
	}
}

// Head implements Broker.
func (b *MemoryBroker) Head() shared.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return shared.ID{Epoch: b.cfg.Epoch, Seq: b.seq}
}

// Healthy implements Broker.
func (b *MemoryBroker) Healthy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	return nil
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return nil
}
