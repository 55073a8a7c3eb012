package server

import (
	"github.com/duet-rt/duet/shared"
)

// defaultMaxReplay is MemoryConfig.MaxReplay's default.
const defaultMaxReplay = 10000

// memReplay is one resume of the MemoryBroker in progress.
type memReplay struct {
	r         *Resume
	from      shared.ID
	start     uint64 // replay messages with seq > start
	restarted bool
	through   uint64 // the last seq issued when the copies were taken
	// runs are each channel's retained messages after start, in id order,
	// copied under the lock; merge interleaves them into r.Messages.
	runs       [][]*Message
	gapped     []string
	maxEvicted uint64
	cut        bool // merge stopped at the limit
}

// startReplay attaches nothing (Subscribe did) but copies, for each of the
// fresh channels, the retained messages after from, and puts ms in
// catching-up mode. b.mu must be held; the copies cost one pointer per
// message, at most MaxReplay+1 per channel.
func (b *MemoryBroker) startReplay(ms *memSub, fresh []string, from shared.ID) *memReplay {
	rp := &memReplay{r: &Resume{Channels: fresh}, from: from, restarted: from.Epoch != b.cfg.Epoch, through: b.seq}
	if !rp.restarted {
		rp.start = from.Seq
	}
	limit := b.cfg.MaxReplay
	if limit >= 0 {
		limit++ // one more than replayed says the replay is cut short
	}
	now := b.cfg.Now()
	for _, name := range fresh {
		ch := ms.channels[name]
		b.evictExpired(ch, now)
		if run := ch.after(rp.start, limit); len(run) > 0 {
			rp.runs = append(rp.runs, run)
		}
		if ch.evictedThrough > rp.start {
			rp.gapped = append(rp.gapped, name)
			rp.maxEvicted = max(rp.maxEvicted, ch.evictedThrough)
		}
	}
	ms.catchingUp, ms.pending, ms.overflowed = true, nil, false
	b.catchingUp++
	return rp
}

// after returns a copy of ch's retained messages with seq > start, the
// oldest limit of them (all when limit < 0).
func (ch *memChannel) after(start uint64, limit int) []*Message {
	at := func(i int) *Message { return ch.history[(ch.head+i)%len(ch.history)] }
	// The ring is in seq order: find the first message after start.
	lo, hi := 0, ch.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if at(mid).ID.Seq <= start {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	n := ch.n - lo
	if limit >= 0 {
		n = min(n, limit)
	}
	if n <= 0 {
		return nil
	}
	out := make([]*Message, n)
	for i := range out {
		out[i] = at(lo + i)
	}
	return out
}

// merge interleaves the runs into id order, keeping the oldest limit
// messages (all when limit < 0). It needs no lock: the runs are copies.
func (rp *memReplay) merge(limit int) {
	total := 0
	for _, run := range rp.runs {
		total += len(run)
	}
	if limit >= 0 && total > limit {
		total, rp.cut = limit, true
	}
	if len(rp.runs) == 1 {
		rp.r.Messages = rp.runs[0][:total]
		return
	}
	out := make([]*Message, 0, total)
	for len(out) < total {
		best := -1
		for i, run := range rp.runs {
			if len(run) > 0 && (best < 0 || run[0].ID.Seq < rp.runs[best][0].ID.Seq) {
				best = i
			}
		}
		out = append(out, rp.runs[best][0])
		rp.runs[best] = rp.runs[best][1:]
	}
	rp.r.Messages = out
	rp.runs = nil
}

// finishReplay hands sub its replay, then the live messages held back
// meanwhile, and takes ms out of catching-up mode. A replay cut short (at
// the limit, or because too many live messages piled up meanwhile) ends at
// Continue, and the held-back messages are dropped: the client resumes from
// there on a new connection. b.mu must be held.
func (b *MemoryBroker) finishReplay(sub Subscriber, ms *memSub, rp *memReplay) {
	r := rp.r
	pending, overflowed := ms.pending, ms.overflowed
	ms.catchingUp, ms.pending, ms.overflowed = false, nil, false
	b.catchingUp--
	if (rp.restarted && len(r.Channels) > 0) || len(rp.gapped) > 0 {
		g := &Gap{LastEventID: rp.from, Reason: shared.GapExpired, Channels: rp.gapped}
		if rp.restarted {
			g.Reason, g.Channels = shared.GapRestarted, r.Channels
		}
		// Resume position after the gap: past the lost messages, but not
		// past any replayed one, so a reconnect in the middle of the replay
		// loses nothing (it may report the gap again, which is loud, not
		// lossy).
		pos := rp.maxEvicted
		if len(r.Messages) > 0 {
			pos = min(pos, r.Messages[0].ID.Seq-1)
		}
		g.ID = shared.ID{Epoch: b.cfg.Epoch, Seq: max(pos, rp.start)}
		r.Gap = g
	}
	switch {
	case rp.cut:
		r.Continue = r.Messages[len(r.Messages)-1].ID
	case overflowed:
		// Everything up to through was replayed; what came after waits
		// for the next connection.
		r.Continue = shared.ID{Epoch: b.cfg.Epoch, Seq: max(rp.through, rp.start)}
	}
	sub.Resumed(r)
	if !r.Continue.IsZero() {
		return
	}
	for _, m := range pending {
		if _, held := ms.channels[m.Envelope.Channel]; held {
			sub.Deliver(m)
		}
	}
}

// heldBack reports whether m waits in s's pending list because s is
// catching up; b.mu must be held.
func (b *MemoryBroker) heldBack(s Subscriber, m *Message) bool {
	ms := b.subs[s]
	if ms == nil || !ms.catchingUp {
		return false
	}
	if b.cfg.MaxReplay >= 0 && len(ms.pending) >= b.cfg.MaxReplay {
		ms.overflowed = true
		ms.pending = nil
		return true
	}
	if !ms.overflowed {
		ms.pending = append(ms.pending, m)
	}
	return true
}
