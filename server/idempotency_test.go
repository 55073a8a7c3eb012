package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestIdempotentPublish: the same key on the same channel stores one message
// and answers its id, on each way in: POST /rt/publish's Idempotency-Key, a
// WebSocket publish frame's idempotencyKey, and WithIdempotencyKey.
func TestIdempotentPublish(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	post := func(key, channel string) (int, string) {
		t.Helper()
		h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {key}}
		resp, body := ts.do(t, http.MethodPost, "/rt/publish", h, `{"channel":"`+channel+`","data":1}`)
		var r struct{ ID string }
		_ = json.Unmarshal(body, &r)
		return resp.StatusCode, r.ID
	}

	t.Run("POST", func(t *testing.T) {
		st, first := post("post-1", "a")
		assert.Equal(t, "status", st, http.StatusOK)
		_, again := post("post-1", "a")
		assert.Equal(t, "repeat's id", again, first)
		_, other := post("post-1", "b")
		assert.True(t, "the key on another channel is a new publish", other != first)
	})

	t.Run("WebSocket", func(t *testing.T) {
		c := ts.openWS(t)
		defer c.close()
		c.send(`{"type":"publish","ref":"1","channel":"a","data":2,"idempotencyKey":"ws-1"}`)
		first := c.expect(shared.TypeAck)
		c.send(`{"type":"publish","ref":"2","channel":"a","data":2,"idempotencyKey":"ws-1"}`)
		again := c.expect(shared.TypeAck)
		assert.Equal(t, "repeat's ack", again.ID, first.ID)
		assert.Equal(t, "repeat's ref", again.Ref, "2")
		// The key is the publish's, whatever the wire: POST with it answers
		// the same id.
		_, viaPost := post("ws-1", "a")
		assert.Equal(t, "the same key over POST", viaPost, first.ID)
	})

	t.Run("Go", func(t *testing.T) {
		ctx := context.Background()
		first, err := ts.hub.Publish(ctx, "a", "", []byte(`3`), WithIdempotencyKey("go-1"))
		assert.NoError(t, err)
		again, err := ts.hub.PublishJSON(ctx, "a", "", 3, WithIdempotencyKey("go-1"))
		assert.NoError(t, err)
		assert.Equal(t, "repeat's id", again, first)
		bin, err := ts.hub.PublishBinary(ctx, "a", "", []byte{1}, WithIdempotencyKey("go-2"))
		assert.NoError(t, err)
		binAgain, err := ts.hub.PublishBinary(ctx, "a", "", []byte{1}, WithIdempotencyKey("go-2"))
		assert.NoError(t, err)
		assert.Equal(t, "binary repeat's id", binAgain, bin)
	})

	t.Run("stored once", func(t *testing.T) {
		// POST 1 and 2 of "a", WS one, Go two, "b" one: resuming "a" from the
		// start replays one message per key.
		c := ts.openSSE(t, "channel=a&lastEventId="+idOf(0), nil)
		defer c.close()
		c.expectIDs(idOf(1), idOf(3), idOf(4), idOf(5))
		m := ts.metrics(t)
		assert.Equal(t, "duplicates counted", m["duet_publish_duplicates_total"], int64(5))
	})

	t.Run("bad keys", func(t *testing.T) {
		for _, key := range []string{strings.Repeat("k", MaxIdempotencyKeyBytes+1), "has space", "é"} {
			st, _ := post(key, "a")
			assert.Equal(t, "status for key "+key, st, http.StatusBadRequest)
		}
	})
}

// TestIdempotencyKeyBound: past MaxIdempotencyKeys a new key is refused
// (4429), a remembered one still answers its id, and keys leave with the
// window.
func TestIdempotencyKeyBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, MaxIdempotencyKeys: 2, IdempotencyWindow: time.Minute, Now: clock})
	defer b.Close()
	ctx := context.Background()
	once := func(key string) (shared.ID, error) {
		id, _, err := b.PublishOnce(ctx, key, "a", "message", []byte(`1`), false)
		return id, err
	}
	first, err := once("k1")
	assert.NoError(t, err)
	_, err = once("k2")
	assert.NoError(t, err)
	_, err = once("k3")
	code, _ := shared.ErrorCode(err)
	assert.Equal(t, "a third key's refusal", code, shared.CodeRateLimited)
	again, err := once("k1")
	assert.NoError(t, err)
	assert.Equal(t, "a remembered key at the bound", again, first)

	mu.Lock()
	now = now.Add(time.Minute + time.Second)
	mu.Unlock()
	_, err = once("k3")
	assert.NoError(t, err)
	fresh, err := once("k1")
	assert.NoError(t, err)
	assert.True(t, "a key past the window is a new publish", fresh != first)
}
