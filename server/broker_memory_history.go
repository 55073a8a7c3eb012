package server

import (
	"context"
	"sort"
)

// History implements HistoryBroker over the retained messages of channel.
// Complete is exact, except for a channel the broker forgot (MaxChannels)
// or never saw after forgetting some: those count as having lost messages.
func (b *MemoryBroker) History(ctx context.Context, channel string, q HistoryQuery) (HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return HistoryPage{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return HistoryPage{}, ErrBrokerClosed
	}
	since := q.Since
	thisEpoch := since.Epoch == b.cfg.Epoch
	if !since.IsZero() && thisEpoch && since.Seq > b.seq {
		return HistoryPage{}, ErrFutureID
	}
	// The channel's retained messages, oldest first, and the highest seq
	// it lost (droppedThrough for a channel without a record).
	var kept []*Message
	evicted := b.droppedThrough
	if ch := b.channels[channel]; ch != nil {
		b.evictExpired(ch, b.cfg.Now())
		kept = make([]*Message, ch.n)
		for i := range kept {
			kept[i] = ch.history[(ch.head+i)%len(ch.history)]
		}
		evicted = ch.evictedThrough
	}
	return historyPage(kept, evicted, q, thisEpoch), nil
}

// historyPage cuts the page q asks for out of kept (a channel's retained
// messages, oldest first), evicted being the highest seq the channel lost
// (0 for none) and thisEpoch whether q.Since is of kept's epoch.
func historyPage(kept []*Message, evicted uint64, q HistoryQuery, thisEpoch bool) HistoryPage {
	limit := q.Limit
	if limit <= 0 {
		limit = len(kept)
	}
	// after returns the index of the first message with a seq above seq.
	after := func(seq uint64) int {
		return sort.Search(len(kept), func(i int) bool { return kept[i].ID.Seq > seq })
	}
	var p HistoryPage
	if q.Since.IsZero() || q.Reverse {
		end := len(kept)
		switch {
		case q.Since.IsZero():
		case !thisEpoch:
			// Everything before an id of another epoch is gone.
			return HistoryPage{Messages: []*Message{}}
		default:
			end = sort.Search(len(kept), func(i int) bool { return kept[i].ID.Seq >= q.Since.Seq })
		}
		start := max(end-limit, 0)
		p.Messages = kept[start:end]
		if start > 0 {
			p.Next, p.Complete = kept[start].ID, true
		} else {
			p.Complete = evicted == 0
		}
		return p
	}
	from := uint64(0)
	if thisEpoch {
		from = q.Since.Seq
	}
	start := after(from)
	end := min(start+limit, len(kept))
	p.Messages = kept[start:end]
	p.Complete = thisEpoch && evicted <= from
	if end < len(kept) && end > start {
		p.Next = kept[end-1].ID
	}
	return p
}

var _ HistoryBroker = (*MemoryBroker)(nil)
var _ IdempotentBroker = (*MemoryBroker)(nil)
