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

// defaultMaxTrackedChannels is MemoryConfig.MaxChannels's default.
const defaultMaxTrackedChannels = 100_000

// channelBound is the MemoryBroker's state for the bound. Guarded by the
// broker's mu.
type channelBound struct {
	// rescanAt is the map size at which makeRoom looks for idle channels
	// again after a scan found too few: without it a map full of
	// subscribed channels would be scanned on every new name.
	rescanAt int
	// forgotten counts channel records dropped to make room.
	forgotten uint64
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
