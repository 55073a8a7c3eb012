package natsbroker

import (
	"context"

	"github.com/duet-rt/duet/server"
)

// History implements server.HistoryBroker. It reads the stream with
// short-lived consumers, as a resume does: forward from Since with one
// read of at most Limit+1 messages; backward in windows of stream
// sequences that double from 4·Limit, newest first, until Limit+1 messages
// of the channel are found or the stream's start is reached. Complete comes
// from the resume's gap detection, so it is conservative in the same way:
// it may say false when nothing of the channel was lost, never true when
// something was.
func (b *Broker) History(ctx context.Context, channel string, q server.HistoryQuery) (server.HistoryPage, error) {
	info, err := b.streamInfo(ctx)
	if err != nil {
		return server.HistoryPage{}, err
	}
	epoch := b.Epoch()
	first, last := info.State.FirstSeq, info.State.LastSeq
	since := q.Since
	thisEpoch := since.Epoch == epoch
	if !since.IsZero() && thisEpoch && since.Seq > last {
		return server.HistoryPage{}, server.ErrFutureID
	}
	limit := q.Limit
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	chans := []string{channel}

	if !since.IsZero() && !q.Reverse {
		from := uint64(0)
		if thisEpoch {
			from = since.Seq
		}
		msgs, err := b.readRange(ctx, epoch, chans, from, last, limit+1)
		if err != nil {
			return server.HistoryPage{}, err
		}
		var p server.HistoryPage
		if len(msgs) > limit {
			msgs = msgs[:limit]
			p.Next = msgs[limit-1].ID
		}
		p.Messages = msgs
		if thisEpoch {
			gapped, _, err := b.lost(ctx, chans, from, last)
			if err != nil {
				return server.HistoryPage{}, err
			}
			p.Complete = len(gapped) == 0
		}
		return p, nil
	}

	hi := last // the newest sequence still to read
	if !since.IsZero() {
		if !thisEpoch {
			return server.HistoryPage{Messages: []*server.Message{}}, nil
		}
		hi = max(since.Seq, 1) - 1
	}
	var msgs []*server.Message
	window := uint64(max(4*min(limit, 1<<20), 64))
	for hi >= first && hi > 0 && len(msgs) <= limit {
		lo := first
		if hi-first+1 > window {
			lo = hi - window + 1
		}
		part, err := b.readRange(ctx, epoch, chans, lo-1, hi, -1)
		if err != nil {
			return server.HistoryPage{}, err
		}
		msgs = append(part, msgs...)
		hi = lo - 1
		window *= 2
	}
	var p server.HistoryPage
	if len(msgs) > limit {
		msgs = msgs[len(msgs)-limit:]
		p.Next, p.Complete = msgs[0].ID, true
	} else {
		gapped, _, err := b.lost(ctx, chans, 0, last)
		if err != nil {
			return server.HistoryPage{}, err
		}
		p.Complete = len(gapped) == 0
	}
	if msgs == nil {
		msgs = []*server.Message{}
	}
	p.Messages = msgs
	return p, nil
}

var (
	_ server.HistoryBroker    = (*Broker)(nil)
	_ server.IdempotentBroker = (*Broker)(nil)
)
