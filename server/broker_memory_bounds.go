package server

import (
	"cmp"
	"slices"
)

// The MemoryBroker's bound on tracked channels. Channels need no creation,
// so without it a client publishing to (or subscribing and unsubscribing
// from) random channel names would grow the broker's map, and the history
// each record keeps, for as long as history lives. Channels with
// subscribers are never forgotten: their number is bounded by the hub's
// connection and channel limits instead.

// Defaults of MemoryConfig's bounds.
const (
	defaultMaxTrackedChannels = 100_000
	defaultMaxHistoryBytes    = 256 << 20
)

// channelBound is the MemoryBroker's state for the bound. Guarded by the
// broker's mu.
type channelBound struct {
	// rescanAt is the map size at which makeRoom looks for idle channels
	// again after a scan found too few: without it a map full of
	// subscribed channels would be scanned on every new name.
	rescanAt int
	// forgotten counts channel records dropped to make room.
	forgotten uint64

	// retained lists every retained message in publish (seq) order, so
	// that the oldest can be evicted when history outgrows
	// MaxHistoryBytes. Entries of messages evicted otherwise (count, age)
	// go stale and are skipped, and compacted away once they outnumber
	// the live ones.
	retained     []retainedMsg
	retainedHead int
	live         int   // messages retained across all channels
	bytes        int64 // their size, as msgBytes counts it
}

type retainedMsg struct {
	ch   *memChannel
	seq  uint64
	size int64
}

// makeRoom is called before a channel record is added. At the bound it
// forgets the least recently published eighth of the channels that have no
// subscriber, retained history included. A resume of a forgotten channel
// then reports a gap (via droppedThrough), never a silent hole.
func (b *MemoryBroker) makeRoom() {
	limit := b.cfg.MaxChannels
	if limit <= 0 || len(b.channels) < limit || len(b.channels) < b.bound.rescanAt {
		return
	}
	type idle struct {
		ch   *memChannel
		last uint64
	}
	var cands []idle
	for _, ch := range b.channels {
		if len(ch.subs) == 0 {
			cands = append(cands, idle{ch, lastSeq(ch)})
		}
	}
	want := max(limit/8, 1)
	if len(cands) > want {
		slices.SortFunc(cands, func(x, y idle) int { return cmp.Compare(x.last, y.last) })
		cands = cands[:want]
	}
	for _, c := range cands {
		b.droppedThrough = max(b.droppedThrough, c.last)
		for i := 0; i < c.ch.n; i++ {
			b.released(c.ch.history[(c.ch.head+i)%len(c.ch.history)])
		}
		clear(c.ch.history)
		c.ch.history, c.ch.n, c.ch.head = nil, 0, 0
		delete(b.channels, c.ch.name)
		b.bound.forgotten++
	}
	b.bound.rescanAt = 0
	if len(cands) < want {
		b.bound.rescanAt = len(b.channels) + want
	}
}

// msgBytes is what a retained message costs: its data and two encodings
// (their capacity: that is what stays allocated), plus the records around
// them.
func msgBytes(m *Message) int64 {
	return int64(cap(m.Envelope.Data)+cap(m.sse)+cap(m.ws)) + 256
}

// retainedNew is called when ch starts retaining m. Past MaxHistoryBytes it
// evicts the oldest retained messages of any channel, which a resume then
// reports as a gap (reason expired), like history that aged out.
func (b *MemoryBroker) retainedNew(ch *memChannel, m *Message) {
	size := msgBytes(m)
	r := &b.bound
	r.retained = append(r.retained, retainedMsg{ch: ch, seq: m.ID.Seq, size: size})
	r.live++
	r.bytes += size
	limit := b.cfg.MaxHistoryBytes
	for limit > 0 && r.bytes > limit && r.retainedHead < len(r.retained) {
		e := r.retained[r.retainedHead]
		r.retained[r.retainedHead] = retainedMsg{}
		r.retainedHead++
		// Publish order is seq order, so a live entry is its channel's
		// oldest message.
		if e.ch.n > 0 && e.ch.history[e.ch.head].ID.Seq == e.seq {
			b.evictOldest(e.ch)
		}
	}
	if stale := len(r.retained) - r.retainedHead - r.live; stale > r.live+64 {
		b.compactRetained()
	}
}

// released is called when a retained message is evicted.
func (b *MemoryBroker) released(m *Message) {
	b.bound.live--
	b.bound.bytes -= msgBytes(m)
}

// compactRetained drops stale entries from the retained list.
func (b *MemoryBroker) compactRetained() {
	r := &b.bound
	kept := make([]retainedMsg, 0, r.live+r.live/2)
	for _, e := range r.retained[r.retainedHead:] {
		if e.ch.n > 0 && e.ch.history[e.ch.head].ID.Seq <= e.seq {
			kept = append(kept, e)
		}
	}
	r.retained, r.retainedHead = kept, 0
}

// HistoryBytes reports how many bytes of messages the broker retains for
// resume, as counted against MemoryConfig.MaxHistoryBytes.
func (b *MemoryBroker) HistoryBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bound.bytes
}

// lastSeq is the seq of ch's newest retained message, or of the newest it
// evicted when it retains none.
func lastSeq(ch *memChannel) uint64 {
	if ch.n > 0 {
		return ch.history[(ch.head+ch.n-1)%len(ch.history)].ID.Seq
	}
	return ch.evictedThrough
}

// TrackedChannels reports how many channel records the broker holds and how
// many it has forgotten to stay under MemoryConfig.MaxChannels.
func (b *MemoryBroker) TrackedChannels() (tracked int, forgotten uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.channels), b.bound.forgotten
}
