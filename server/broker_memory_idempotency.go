package server

import (
	"context"
	"strconv"
	"time"

	"github.com/duet-rt/duet/shared"
)

// The MemoryBroker's idempotency keys: which keyed publish of each channel
// stored which message, for MemoryConfig.IdempotencyWindow.

// Defaults of MemoryConfig's idempotency settings.
const (
	defaultIdempotencyWindow  = 2 * time.Minute
	defaultMaxIdempotencyKeys = 100_000
)

// memKeys is the broker's table of remembered keys. Guarded by the
// broker's mu.
type memKeys struct {
	seqs map[memKey]uint64 // the seq the key's first publish was given
	// order lists the keys oldest first, so that expiry pops from the front.
	order []memKeyEntry
	head  int
}

type memKey struct{ channel, key string }

type memKeyEntry struct {
	key memKey
	at  time.Time
}

// expire forgets the keys remembered before cutoff.
func (k *memKeys) expire(cutoff time.Time) {
	for k.head < len(k.order) && k.order[k.head].at.Before(cutoff) {
		delete(k.seqs, k.order[k.head].key)
		k.order[k.head] = memKeyEntry{}
		k.head++
	}
	if k.head > 1024 && k.head > len(k.order)/2 {
		k.order = append([]memKeyEntry(nil), k.order[k.head:]...)
		k.head = 0
	}
}

// PublishOnce implements IdempotentBroker: a key is remembered for
// MemoryConfig.IdempotencyWindow; while MaxIdempotencyKeys are remembered,
// a new key is refused with shared.CodeRateLimited.
func (b *MemoryBroker) PublishOnce(ctx context.Context, key, channel, event string, data []byte, binary bool) (shared.ID, bool, error) {
	if err := ctx.Err(); err != nil {
		return shared.ID{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return shared.ID{}, false, ErrBrokerClosed
	}
	now := b.cfg.Now()
	k := &b.keys
	k.expire(now.Add(-b.cfg.IdempotencyWindow))
	mk := memKey{channel: channel, key: key}
	if seq, ok := k.seqs[mk]; ok {
		return shared.ID{Epoch: b.cfg.Epoch, Seq: seq}, true, nil
	}
	if len(k.seqs) >= b.cfg.MaxIdempotencyKeys {
		return shared.ID{}, false, shared.NewError(shared.CodeRateLimited, "the server remembers as many idempotency keys as it may ("+strconv.Itoa(b.cfg.MaxIdempotencyKeys)+"): retry in a moment")
	}
	newMessage := NewMessage
	if binary {
		newMessage = NewBinaryMessage
	}
	m := b.publishLocked(channel, event, data, newMessage, now)
	if k.seqs == nil {
		k.seqs = make(map[memKey]uint64)
	}
	k.seqs[mk] = m.ID.Seq
	k.order = append(k.order, memKeyEntry{key: mk, at: now})
	return m.ID, false, nil
}
