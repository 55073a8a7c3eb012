package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestMemoryBrokerChannelBound: publishing to ever new channel names keeps
// the number of channel records under MaxChannels; subscribed channels are
// kept; resuming a forgotten channel reports a gap instead of a hole.
func TestMemoryBrokerChannelBound(t *testing.T) {
	t.Parallel()
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, MaxChannels: 64})
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	keep := newOutbox(1 << 16)
	assert.NoError(t, b.Subscribe(ctx, keep, []string{"kept"}, shared.ID{}))
	first, err := b.Publish(ctx, "early", "message", []byte("1"))
	assert.NoError(t, err)
	for i := range 5000 {
		_, err := b.Publish(ctx, "storm-"+strconv.Itoa(i), "message", []byte("1"))
		assert.NoError(t, err)
		if n, _ := b.TrackedChannels(); n > 64 {
			t.Fatalf("after %d publishes the broker tracks %d channels, limit 64", i+1, n)
		}
	}
	_, forgotten := b.TrackedChannels()
	assert.True(t, "channels were forgotten", forgotten > 0)
	_, err = b.Publish(ctx, "kept", "message", []byte("2"))
	assert.NoError(t, err)
	batch := keep.take().batch
	assert.Equal(t, "kept channel still delivers", len(batch), 2) // the resume, then the message

	rec := newOutbox(16)
	assert.NoError(t, b.Subscribe(ctx, rec, []string{"early"}, shared.ID{Epoch: testEpoch, Seq: first.ID.Seq - 1}))
	batch = rec.take().batch
	assert.Equal(t, "items", len(batch), 1)
	r := batch[0].resume
	assert.True(t, "gap reported for the forgotten channel", r != nil && r.Gap != nil && r.Gap.Reason == shared.GapExpired)
}

// TestMemoryBrokerHistoryBytes: retained history stays under
// MaxHistoryBytes by evicting the oldest messages of any channel, a resume
// from before them reports the gap, and history evicted by count leaves no
// bookkeeping behind.
func TestMemoryBrokerHistoryBytes(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, MaxHistoryBytes: limit})
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	data := []byte(`"` + strings.Repeat("x", 32<<10) + `"`)
	var ids []shared.ID
	for i := range 200 {
		m, err := b.Publish(ctx, "c"+strconv.Itoa(i%10), "message", data)
		assert.NoError(t, err)
		ids = append(ids, m.ID)
		if n := b.HistoryBytes(); n > limit {
			t.Fatalf("after %d publishes history holds %d bytes, limit %d", i+1, n, limit)
		}
	}
	rec := newOutbox(16)
	assert.NoError(t, b.Subscribe(ctx, rec, []string{"c9"}, ids[0]))
	batch := rec.take().batch
	r := batch[0].resume
	assert.True(t, "gap reported for evicted history", r.Gap != nil && r.Gap.Reason == shared.GapExpired)
	assert.True(t, "the newest messages are still replayed", len(r.Messages) > 0 && r.Messages[len(r.Messages)-1].ID == ids[199])

	small := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, HistorySize: 10})
	t.Cleanup(func() { _ = small.Close() })
	for range 10000 {
		_, err := small.Publish(ctx, "one", "message", []byte("1"))
		assert.NoError(t, err)
	}
	small.mu.Lock()
	entries := len(small.bound.retained) - small.bound.retainedHead
	small.mu.Unlock()
	assert.True(t, "bookkeeping of 10 retained messages stays small, got "+strconv.Itoa(entries), entries <= 200)
}
