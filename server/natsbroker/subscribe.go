package natsbroker

import (
	"context"
	"errors"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCatchUpRounds bounds how often one Subscribe reads the stream again
// because live messages overflowed its buffer meanwhile. Past it the call
// fails (the client retries with backoff) rather than chase a stream that
// grows faster than it can be read.
const maxCatchUpRounds = 8

var (
	errRecreated      = errors.New("the stream was re-created during the replay")
	errIncompleteRead = errors.New("the stream ended a replay early")
	errCannotCatchUp  = errors.New("live traffic outpaced the replay")
)

// Subscribe implements server.Broker.
//
// Without a resume id the channels are attached to the live fan-out at once
// and Subscribe never talks to NATS, so it works during an outage too. With
// one, the channels are attached in catching-up mode (live messages wait in
// a per-subscriber buffer), the missed messages are read from the stream up
// to where the live feed stood at that moment, and then, under the fan-out's
// lock, sub gets Resumed with the replay followed by the buffered messages:
// every message once, in id order.
func (b *Broker) Subscribe(ctx context.Context, sub server.Subscriber, channels []string, from shared.ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return server.ErrBrokerClosed
	}
	st := b.subs[sub]
	if st == nil {
		st = &subState{channels: make(map[string]struct{}), turn: make(chan struct{}, 1)}
		b.subs[sub] = st
	}
	st.users++
	b.mu.Unlock()
	defer b.release(sub, st)

	select {
	case st.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-st.turn }()

	if from.IsZero() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed {
			return server.ErrBrokerClosed
		}
		sub.Resumed(&server.Resume{Channels: b.attach(sub, st, channels, max(b.liveSeq, b.acked))})
		return nil
	}
	return b.resume(ctx, sub, st, channels, from)
}

func (b *Broker) resume(ctx context.Context, sub server.Subscriber, st *subState, channels []string, from shared.ID) error {
	b.mu.Lock()
	epoch, head := b.epoch, max(b.liveSeq, b.acked)
	b.mu.Unlock()
	restarted := from.Epoch != epoch
	start := from.Seq // replay the messages after start
	if restarted {
		start = 0
	}
	if s := b.nc.Status(); s != nats.CONNECTED {
		return unavailable(errors.New("NATS connection is " + s.String()))
	}
	if !restarted && start > head {
		// This node has not seen that far; the stream knows whether anyone
		// issued it.
		info, err := b.streamInfo(ctx)
		if err != nil {
			return err
		}
		if start > info.State.LastSeq {
			return server.ErrFutureID
		}
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return server.ErrBrokerClosed
	}
	if b.epoch != epoch {
		b.mu.Unlock()
		return unavailable(errRecreated)
	}
	// A node whose live feed lags behind the client's id must not deliver
	// what the client already has: live delivery starts after start.
	fresh := b.attach(sub, st, channels, start)
	if len(fresh) == 0 {
		// Nothing new: no replay and, even for another epoch, nothing lost.
		sub.Resumed(&server.Resume{})
		b.mu.Unlock()
		return nil
	}
	st.resuming = make(map[string]struct{}, len(fresh))
	for _, name := range fresh {
		st.resuming[name] = struct{}{}
	}
	st.pending, st.overflowed = nil, false
	through := b.liveSeq // live messages after it go to st.pending
	b.mu.Unlock()

	// Round 0 reads the replay: (start, through]. When the live buffer
	// overflows meanwhile, the next round reads what it dropped from the
	// stream instead: (previous through, current liveSeq].
	var replay, late []*server.Message
	after := start
	for round := 0; ; round++ {
		msgs, err := b.readRange(ctx, epoch, fresh, max(after, start), through)
		if err != nil {
			b.abandon(sub, st, fresh)
			return err
		}
		if round == 0 {
			replay = msgs
		} else {
			late = append(late, msgs...)
		}
		if b.afterRead != nil {
			b.afterRead(round)
		}
		// Checked after reading: the stream only loses messages, so what
		// it still holds now it held during the read.
		gap, err := b.gapFor(ctx, epoch, fresh, from, start, restarted, through, replay, late)
		if err != nil {
			b.abandon(sub, st, fresh)
			return err
		}

		b.mu.Lock()
		switch {
		case b.closed:
			b.mu.Unlock()
			b.abandon(sub, st, fresh)
			return server.ErrBrokerClosed
		case b.epoch != epoch:
			b.mu.Unlock()
			b.abandon(sub, st, fresh)
			return unavailable(errRecreated)
		case st.overflowed && round+1 < maxCatchUpRounds:
			after, through = through, b.liveSeq
			st.pending, st.overflowed = nil, false
			b.mu.Unlock()
			continue
		case st.overflowed:
			b.mu.Unlock()
			b.abandon(sub, st, fresh)
			return unavailable(errCannotCatchUp)
		}
		b.handOver(sub, st, fresh, replay, late, gap)
		b.mu.Unlock()
		return nil
	}
}

// handOver ends a catch-up: sub gets its replay, then the messages read in
// later rounds, then those the live feed buffered, and is live from then on.
// Channels unsubscribed meanwhile are left out. b.mu must be held.
func (b *Broker) handOver(sub server.Subscriber, st *subState, fresh []string, replay, late []*server.Message, gap *server.Gap) {
	held := func(m *server.Message) bool {
		_, ok := st.channels[m.Envelope.Channel]
		return ok
	}
	r := &server.Resume{Gap: gap}
	for _, name := range fresh {
		if _, ok := st.channels[name]; ok {
			r.Channels = append(r.Channels, name)
		}
	}
	for _, m := range replay {
		if held(m) {
			r.Messages = append(r.Messages, m)
		}
	}
	sub.Resumed(r)
	for _, m := range late {
		if held(m) {
			sub.Deliver(m)
		}
	}
	for _, m := range st.pending { // all after start: see attach
		if held(m) {
			sub.Deliver(m)
		}
	}
	st.resuming, st.pending, st.overflowed = nil, nil, false
}

// abandon undoes the attachment of a Subscribe call that failed.
func (b *Broker) abandon(sub server.Subscriber, st *subState, fresh []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range fresh {
		if _, ok := st.channels[name]; ok {
			b.detach(sub, st, name)
		}
	}
	st.resuming, st.pending, st.overflowed = nil, nil, false
}

func (b *Broker) release(sub server.Subscriber, st *subState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st.users--
	if st.users == 0 && len(st.channels) == 0 && b.subs[sub] == st {
		delete(b.subs, sub)
	}
}

// attach adds the channels sub does not hold yet and returns them, in the
// order given. Messages up to after are not delivered to them live. b.mu
// must be held.
func (b *Broker) attach(sub server.Subscriber, st *subState, channels []string, after uint64) []string {
	var fresh []string
	for _, name := range channels {
		if _, held := st.channels[name]; held {
			continue
		}
		st.channels[name] = struct{}{}
		cs := b.channels[name]
		if cs == nil {
			cs = &channelSubs{index: make(map[server.Subscriber]int)}
			b.channels[name] = cs
		}
		cs.index[sub] = len(cs.subs)
		cs.subs = append(cs.subs, binding{sub: sub, st: st, after: after})
		fresh = append(fresh, name)
	}
	return fresh
}

// detach removes one channel of sub. b.mu must be held.
func (b *Broker) detach(sub server.Subscriber, st *subState, name string) {
	delete(st.channels, name)
	if st.resuming != nil {
		delete(st.resuming, name)
	}
	cs := b.channels[name]
	if cs == nil {
		return
	}
	i, ok := cs.index[sub]
	if !ok {
		return
	}
	last := len(cs.subs) - 1
	cs.subs[i] = cs.subs[last]
	cs.index[cs.subs[i].sub] = i
	cs.subs[last] = binding{}
	cs.subs = cs.subs[:last]
	delete(cs.index, sub)
	if len(cs.subs) == 0 {
		delete(b.channels, name)
	}
}

// Unsubscribe implements server.Broker.
func (b *Broker) Unsubscribe(sub server.Subscriber, channels ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.subs[sub]
	if st == nil {
		return
	}
	if len(channels) == 0 {
		for name := range st.channels {
			b.detach(sub, st, name)
		}
	}
	for _, name := range channels {
		if _, ok := st.channels[name]; ok {
			b.detach(sub, st, name)
		}
	}
	if len(st.channels) == 0 && st.users == 0 {
		delete(b.subs, sub)
	}
}

func (b *Broker) streamInfo(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	info, err := b.stream.Info(rctx, opts...)
	if err != nil {
		return nil, b.requestError(ctx, err)
	}
	return info, nil
}

// requestError is err from a request made under ctx: the caller's
// cancellation as is, anything else as "broker unavailable".
func (b *Broker) requestError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(err)
}

// readRange reads the stored messages of channels with sequences in
// (after, through], in order, with a short-lived consumer. It fails rather
// than return fewer messages than the stream announced.
func (b *Broker) readRange(ctx context.Context, epoch uint64, channels []string, after, through uint64) ([]*server.Message, error) {
	return b.readRangeN(ctx, epoch, channels, after, through, 0)
}

// readRangeN is readRange stopping after most messages (no limit when
// most ≤ 0).
func (b *Broker) readRangeN(ctx context.Context, epoch uint64, channels []string, after, through uint64, most int) ([]*server.Message, error) {
	if through <= after {
		return nil, nil
	}
	cfg := jetstream.ConsumerConfig{
		Description:       "duet replay",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 2 * b.cfg.RequestTimeout,
	}
	subjects := make([]string, len(channels))
	for i, name := range channels {
		subjects[i] = subjectFor(b.cfg.SubjectPrefix, name)
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	cons, err := b.js.CreateConsumer(rctx, b.cfg.Stream, cfg)
	if err != nil {
		return nil, b.requestError(ctx, err)
	}
	defer b.deleteConsumer(cons)

	// remaining is how many matching messages the stream holds past the
	// last one read, as the server last told.
	remaining := cons.CachedInfo().NumPending
	var out []*server.Message
	empty := 0 // consecutive fetches that returned nothing
	for done := false; remaining > 0 && !done; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Fetch, not FetchNoWait: on a loaded server a no-wait pull can come
		// back empty although the consumer has messages pending. A waiting
		// pull returns as soon as the batch is full, so the wait costs
		// nothing unless messages vanished (history limits) meanwhile.
		batch, err := cons.Fetch(int(min(remaining, 256)), jetstream.FetchMaxWait(b.cfg.RequestTimeout/2))
		if err != nil {
			return nil, b.requestError(ctx, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil || done {
				continue // drain the batch
			}
			remaining = md.NumPending
			seq := md.Sequence.Stream
			if seq > through {
				done = true
				continue
			}
			done = seq == through
			m, err := b.toMessage(epoch, msg.Subject(), msg.Headers(), msg.Data(), seq, md.Timestamp)
			if err != nil {
				continue // not Duet's; the live feed skips it too
			}
			out = append(out, m)
			done = done || len(out) == most
		}
		if err := batch.Error(); err != nil {
			return nil, b.requestError(ctx, err)
		}
		if n == 0 && !done {
			// A fetch that times out ends empty and without an error. Ask
			// the consumer what is left: messages can leave the stream by
			// its age limit during the replay (the gap check that follows
			// reports them); if some remain, try again, but never take a
			// silent empty answer for the end of history.
			ictx, icancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
			info, err := cons.Info(ictx)
			icancel()
			if err != nil {
				return nil, b.requestError(ctx, err)
			}
			if remaining = info.NumPending; remaining == 0 {
				break
			}
			if empty++; empty == 3 {
				return nil, unavailable(errIncompleteRead)
			}
			continue
		}
		empty = 0
	}
	return out, nil
}

// gapFor returns the gap notice of a resume from `from` (replaying after
// start) of channels, or nil when resume is exact. See the package doc for
// which verdicts are exact and which are conservative.
func (b *Broker) gapFor(ctx context.Context, epoch uint64, channels []string, from shared.ID, start uint64, restarted bool, through uint64, replay, late []*server.Message) (*server.Gap, error) {
	gapped, bound, err := b.lost(ctx, channels, start, through)
	if err != nil {
		return nil, err
	}
	if !restarted && len(gapped) == 0 {
		return nil, nil
	}
	g := &server.Gap{LastEventID: from, Reason: shared.GapExpired, Channels: gapped}
	if restarted {
		g.Reason, g.Channels = shared.GapRestarted, channels
	}
	// The client's position after the gap: past the lost messages, but not
	// past anything it is about to receive, so that a reconnect in the
	// middle of the replay loses nothing (it may report the gap again, which
	// is loud, not lossy).
	pos := min(bound, through)
	switch {
	case len(replay) > 0:
		pos = min(pos, replay[0].ID.Seq-1)
	case len(late) > 0:
		pos = min(pos, late[0].ID.Seq-1)
	}
	g.ID = shared.ID{Epoch: epoch, Seq: max(pos, start)}
	return g, nil
}

// lost returns the channels that may have lost messages after start, and
// the highest sequence such a loss may have reached (the client's position
// after the gap, before capping). Messages leave the stream only by its
// limits, oldest first per channel (per-channel count) or oldest first
// overall (age, bytes): DenyDelete and DenyPurge rule out the rest.
func (b *Broker) lost(ctx context.Context, channels []string, start, through uint64) (gapped []string, bound uint64, err error) {
	info, err := b.streamInfo(ctx)
	if err != nil {
		return nil, 0, err
	}
	s := info.State
	// Exact: nothing after start ever left the stream.
	if s.FirstSeq <= start+1 && s.NumDeleted == 0 {
		return nil, 0, nil
	}
	limit := historyFloor(&info.Config)
	for _, name := range channels {
		subject := subjectFor(b.cfg.SubjectPrefix, name)
		var first uint64 // the channel's oldest retained message, 0 for none
		rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
		raw, err := b.stream.GetMsg(rctx, 1, jetstream.WithGetMsgSubject(subject))
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return nil, 0, b.requestError(ctx, err)
		default:
			first = raw.Sequence
		}
		// Exact: the channel still holds a message at or before start+1,
		// and a channel loses its oldest messages first.
		if first != 0 && first <= start+1 {
			continue
		}
		// Exact: no age or size eviction reached past start, and the
		// channel never filled its per-channel limit (a channel that did
		// would still hold `limit` messages newer than the one it lost).
		// limit is the lowest the stream ever had, for a channel may have
		// overflowed an earlier, lower one.
		if s.FirstSeq <= start+1 {
			if limit <= 0 || first == 0 {
				continue
			}
			si, err := b.streamInfo(ctx, jetstream.WithSubjectFilter(subject))
			if err != nil {
				return nil, 0, err
			}
			if si.State.Subjects[subject] < uint64(limit) {
				continue
			}
		}
		// Conservative: messages after start are gone and nothing says
		// whether any were of this channel.
		gapped = append(gapped, name)
		if first != 0 {
			bound = max(bound, first-1)
		} else {
			bound = max(bound, through)
		}
	}
	return gapped, bound, nil
}
