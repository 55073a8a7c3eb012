package natsbroker

import (
	"context"
	"errors"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	errReconnected   = errors.New("duet/natsbroker: reconnected to NATS: starting the live feed over")
	errFeedOutOfStep = errors.New("duet/natsbroker: the live feed skipped a message: starting over")
)

// runFeed keeps the node's live feed running: one consumer on every channel
// subject, from the message after the last one delivered. Whatever stops it
// (an outage, a lost consumer, a message lost in transit), it starts over
// from there, so subscribers see every message once, in stream order.
func (b *Broker) runFeed(ctx context.Context) {
	defer b.wg.Done()
	backoff := shared.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}
	attempt := 0
	for {
		ran, err := b.feedOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if ran {
			attempt = 0
		}
		b.setFeedErr(err)
		delay := backoff.Delay(attempt)
		attempt++
		if errors.Is(err, errReconnected) || errors.Is(err, errFeedOutOfStep) {
			delay = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// feedOnce runs one consumer until it fails; ran reports whether it got as
// far as consuming.
func (b *Broker) feedOnce(ctx context.Context) (ran bool, err error) {
	// A reconnection signalled before this point is handled by this very
	// attempt.
	select {
	case <-b.reconnected:
	default:
	}
	if st := b.nc.Status(); st != nats.CONNECTED {
		// Wait for the connection rather than spin on failing requests.
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-b.reconnected:
			return false, errReconnected
		}
	}

	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	info, err := b.ensureStream(rctx)
	if err != nil {
		cancel()
		return false, err
	}
	b.mu.Lock()
	if e := epochOf(info); e != b.epoch {
		// The stream was deleted and created again: its sequence started
		// over. Ids of the old epoch now resume with a "restarted" gap.
		b.log.Warn("duet/natsbroker: the stream was re-created: new epoch", "stream", b.cfg.Stream, "old", b.epoch, "new", e)
		b.epoch, b.liveSeq, b.acked = e, 0, 0
		for _, cs := range b.channels {
			for i := range cs.subs {
				cs.subs[i].after = 0
			}
		}
	}
	start := b.liveSeq + 1
	b.mu.Unlock()
	cons, err := b.js.CreateConsumer(rctx, b.cfg.Stream, jetstream.ConsumerConfig{
		Description:       "duet live feed",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     b.cfg.SubjectPrefix + ".>",
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: max(30*time.Second, 10*b.cfg.Heartbeat),
	})
	cancel()
	if err != nil {
		return false, unavailable(err)
	}
	defer b.deleteConsumer(cons)

	it, err := cons.Messages(
		jetstream.PullMaxMessages(256),
		jetstream.PullExpiry(max(30*time.Second, 4*b.cfg.Heartbeat)),
		jetstream.PullHeartbeat(b.cfg.Heartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return false, unavailable(err)
	}
	defer it.Stop()

	iterCtx, stopIter := context.WithCancelCause(ctx)
	watcherDone := make(chan struct{})
	defer func() {
		stopIter(nil)
		<-watcherDone
	}()
	go func() {
		defer close(watcherDone)
		select {
		case <-b.reconnected:
			stopIter(errReconnected)
		case <-iterCtx.Done():
		}
	}()

	b.setFeedErr(nil)
	b.readyOnce.Do(func() { close(b.ready) })
	var delivered uint64 // the consumer's own sequence: 1, 2, 3… with no hole
	for {
		msg, err := it.Next(jetstream.NextContext(iterCtx))
		if err != nil {
			if cause := context.Cause(iterCtx); cause != nil && ctx.Err() == nil {
				return true, cause
			}
			return true, unavailable(err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return true, err
		}
		if md.Sequence.Consumer != delivered+1 {
			return true, errFeedOutOfStep
		}
		delivered = md.Sequence.Consumer
		b.mu.Lock()
		epoch, seq := b.epoch, md.Sequence.Stream
		if seq <= b.liveSeq { // cannot happen with a consumer started after liveSeq
			b.mu.Unlock()
			continue
		}
		m, err := b.toMessage(epoch, msg.Subject(), msg.Headers(), msg.Data(), seq, md.Timestamp)
		if err != nil {
			b.liveSeq = seq
			b.mu.Unlock()
			b.log.Warn("duet/natsbroker: skipping a message Duet did not publish", "seq", seq, "subject", msg.Subject(), "err", err)
			continue
		}
		b.fanout(m)
		b.mu.Unlock()
	}
}

// fanout hands m to the subscribers of its channel: delivered, or buffered
// for those catching up on that channel. b.mu must be held.
func (b *Broker) fanout(m *server.Message) {
	b.liveSeq = m.ID.Seq
	cs := b.channels[m.Envelope.Channel]
	if cs == nil {
		return
	}
	for _, bd := range cs.subs {
		if m.ID.Seq <= bd.after {
			continue
		}
		if st := bd.st; st.resuming != nil {
			if _, ok := st.resuming[m.Envelope.Channel]; ok {
				switch {
				case st.overflowed:
				case len(st.pending) >= b.cfg.CatchUpBuffer:
					clear(st.pending)
					st.pending, st.overflowed = nil, true
				default:
					st.pending = append(st.pending, m)
				}
				continue
			}
		}
		bd.sub.Deliver(m) // a full queue disconnects that subscriber; the others go on
	}
}

// deleteConsumer removes an ephemeral consumer now rather than when its
// inactivity threshold passes. Best effort: skipped while disconnected.
func (b *Broker) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || b.nc.Status() != nats.CONNECTED {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(b.cfg.RequestTimeout, 2*time.Second))
	defer cancel()
	_ = b.js.DeleteConsumer(ctx, b.cfg.Stream, info.Name)
}
