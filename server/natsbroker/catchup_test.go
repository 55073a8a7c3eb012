package natsbroker

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
	"github.com/duet-rt/duet/server/natsbroker/internal/cluster"
	"github.com/duet-rt/duet/shared"
)

// newTestBroker starts an embedded NATS server and a broker on it.
func newTestBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	n, err := cluster.StartNATS(t.TempDir(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	cfg.URL = n.URL()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := New(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func publishN(t *testing.T, b *Broker, channel string, n, base int) []*server.Message {
	t.Helper()
	var out []*server.Message
	for i := range n {
		m, err := b.Publish(context.Background(), channel, "message", []byte(strconv.Itoa(base+i)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// waitLive waits until the live feed has handed over seq.
func waitLive(t *testing.T, b *Broker, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		live := b.liveSeq
		b.mu.Unlock()
		if live >= seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("live feed stuck at %d, want %d", live, seq)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCatchUpOverflow: live messages that overflow a subscriber's catch-up
// buffer during its replay are read from the stream in another round; the
// subscriber still gets every message once, in order, and its other
// channels are not held up.
func TestCatchUpOverflow(t *testing.T) {
	b := newTestBroker(t, Config{CatchUpBuffer: 3})
	all := publishN(t, b, "c", 5, 0)
	waitLive(t, b, all[len(all)-1].ID.Seq)

	r := brokertest.NewRecorder()
	mustSub := func(from shared.ID, channels ...string) {
		t.Helper()
		if err := b.Subscribe(context.Background(), r, channels, from); err != nil {
			t.Fatal(err)
		}
	}
	mustSub(shared.ID{}, "other")
	var rounds []int
	var otherMsgs []*server.Message
	b.afterRead = func(round int) {
		rounds = append(rounds, round)
		if round > 1 {
			return
		}
		// While the replay is in hand: more than the buffer holds, on the
		// channel being replayed, and one on a channel already live.
		more := publishN(t, b, "c", 5, 100*(round+1))
		otherMsgs = append(otherMsgs, publishN(t, b, "other", 1, 1000+round)...)
		all = append(all, more...)
		waitLive(t, b, otherMsgs[len(otherMsgs)-1].ID.Seq)
		// The live channel was not held up by the catch-up.
		if !slices.Contains(brokertest.IDs(r.Delivered()), otherMsgs[len(otherMsgs)-1].Envelope.ID) {
			t.Errorf("round %d: a live channel waited for another channel's replay", round)
		}
	}
	mustSub(all[1].ID, "c")
	b.afterRead = nil
	if !slices.Equal(rounds, []int{0, 1, 2}) {
		t.Fatalf("read rounds: want [0 1 2], got %v", rounds)
	}
	var got []*server.Message
	for _, m := range r.Received() {
		if m.Envelope.Channel == "c" {
			got = append(got, m)
		}
	}
	if w, g := brokertest.IDs(all[2:]), brokertest.IDs(got); !slices.Equal(w, g) {
		t.Fatalf("channel c:\nwant %v\n got %v", w, g)
	}
	last := publishN(t, b, "c", 1, 999)
	r.WaitForID(t, last[0].Envelope.ID)
	if n := len(r.Received()); n != len(all[2:])+len(otherMsgs)+1 {
		t.Fatalf("received %d messages, want %d", n, len(all[2:])+len(otherMsgs)+1)
	}
}

// TestCatchUpGivesUp: a replay that never catches up with live traffic
// fails with a retryable code and leaves nothing attached.
func TestCatchUpGivesUp(t *testing.T) {
	b := newTestBroker(t, Config{CatchUpBuffer: 1})
	first := publishN(t, b, "c", 1, 0)[0]
	b.afterRead = func(int) {
		more := publishN(t, b, "c", 2, 0)
		waitLive(t, b, more[1].ID.Seq)
	}
	r := brokertest.NewRecorder()
	err := b.Subscribe(context.Background(), r, []string{"c"}, first.ID)
	b.afterRead = nil
	if code, _ := shared.ErrorCode(err); code != shared.CodeBrokerUnavailable {
		t.Fatalf("want code 4003, got %v", err)
	}
	if len(r.Resumes()) != 0 {
		t.Fatal("Resumed was called for a failed subscribe")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) != 0 || len(b.channels) != 0 {
		t.Fatalf("a failed subscribe left %d subscribers, %d channels", len(b.subs), len(b.channels))
	}
}

// TestUnsubscribeDuringCatchUp: a channel unsubscribed while its replay is
// read gets nothing, the other channels of the call go on.
func TestUnsubscribeDuringCatchUp(t *testing.T) {
	b := newTestBroker(t, Config{})
	publishN(t, b, "a", 2, 0)
	bs := publishN(t, b, "b", 2, 10)
	r := brokertest.NewRecorder()
	b.afterRead = func(int) {
		b.Unsubscribe(r, "a")
		publishN(t, b, "a", 1, 20)
	}
	if err := b.Subscribe(context.Background(), r, []string{"a", "b"}, shared.ID{Epoch: b.Epoch(), Seq: 0}); err != nil {
		t.Fatal(err)
	}
	b.afterRead = nil
	res := r.Resumes()[0]
	if !slices.Equal(res.Channels, []string{"b"}) {
		t.Fatalf("resumed channels: %v", res.Channels)
	}
	last := publishN(t, b, "b", 1, 30)[0]
	r.WaitForID(t, last.Envelope.ID)
	if w, g := brokertest.IDs(append(bs, last)), brokertest.IDs(r.Received()); !slices.Equal(w, g) {
		t.Fatalf("want %v, got %v", w, g)
	}
}

// TestResumeAheadOfFeed: a client whose id is ahead of this node's live
// feed (it came from a node further along) gets nothing twice.
func TestResumeAheadOfFeed(t *testing.T) {
	b := newTestBroker(t, Config{})
	all := publishN(t, b, "c", 3, 0)
	waitLive(t, b, all[2].ID.Seq)
	// Make the node believe its feed is behind: what it "has not seen"
	// arrives live and must be filtered against the client's id.
	b.mu.Lock()
	b.liveSeq = all[0].ID.Seq
	b.mu.Unlock()
	r := brokertest.NewRecorder()
	if err := b.Subscribe(context.Background(), r, []string{"c"}, all[1].ID); err != nil {
		t.Fatal(err)
	}
	// Replay the stretch the feed "missed", as a feed that catches up would.
	b.mu.Lock()
	b.fanout(all[1])
	b.fanout(all[2])
	b.mu.Unlock()
	more := publishN(t, b, "c", 1, 9)[0]
	r.WaitForID(t, more.Envelope.ID)
	if w, g := brokertest.IDs([]*server.Message{all[2], more}), brokertest.IDs(r.Received()); !slices.Equal(w, g) {
		t.Fatalf("want %v, got %v", w, g)
	}
}
