// Package brokertest is a conformance suite for server.Broker
// implementations: the ordering contract of Subscribe, exact resume, gap
// notices when history is gone, future ids, unsubscribe, many channels and
// concurrent publishers. Every broker Duet ships runs it; so should any
// other. RunPresence is the same for server.PresenceStore implementations:
// listing, counts, leaves, join/leave events across nodes, bounds.
//
// It is for tests only: it calls t.Fatal and waits with timeouts.
//
// brokertest.go holds Run and the helpers the cases share, conformance.go
// the cases every Broker must pass, idempotency.go and history.go those of
// IdempotentBroker and HistoryBroker, recorder.go the Recorder subscriber,
// presence.go RunPresence and its cases.
package brokertest

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// HistorySize is how many messages per channel a broker under test must
// keep (and no more), with an age limit of at least ten minutes.
const HistorySize = 100

// waitTimeout bounds every wait for an asynchronous delivery.
const waitTimeout = 15 * time.Second

// Run runs the suite. newBroker returns a new, empty broker that keeps
// HistorySize messages per channel; Run closes it at the end of each test
// (closing it again, e.g. in a t.Cleanup of newBroker, must be harmless).
// Brokers may deliver asynchronously: the suite waits for deliveries.
func Run(t *testing.T, newBroker func(t *testing.T) server.Broker) {
	tests := []struct {
		name string
		run  func(t *testing.T, b server.Broker)
	}{
		{"Publish", testPublish},
		{"Live", testLive},
		{"ResumeExact", testResumeExact},
		{"ResumeNewChannel", testResumeNewChannel},
		{"Resubscribe", testResubscribe},
		{"GapOnExpiry", testGapOnExpiry},
		{"Restarted", testRestarted},
		{"FutureID", testFutureID},
		{"Unsubscribe", testUnsubscribe},
		{"ManyChannels", testManyChannels},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"OrderingContract", testOrderingContract},
		{"FullSubscriber", testFullSubscriber},
		{"Close", testClose},
		{"Binary", testBinary},
		{"Idempotent", testIdempotent},
		{"History", testHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t)
			t.Cleanup(func() { _ = b.Close() })
			tt.run(t, b)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, b server.Broker, channel string, n int) *server.Message {
	t.Helper()
	m, err := b.Publish(ctxFor(t), channel, "message", []byte(`{"n":`+strconv.Itoa(n)+`}`))
	if err != nil {
		t.Fatalf("publish to %s: %v", channel, err)
	}
	return m
}

func subscribe(t *testing.T, b server.Broker, sub server.Subscriber, from shared.ID, channels ...string) {
	t.Helper()
	if err := b.Subscribe(ctxFor(t), sub, channels, from); err != nil {
		t.Fatalf("subscribe to %v from %q: %v", channels, from, err)
	}
}

// only returns the messages of ms on channels, after id from (zero: all).
func only(ms []*server.Message, from shared.ID, channels ...string) []*server.Message {
	var out []*server.Message
	for _, m := range ms {
		if slices.Contains(channels, m.Envelope.Channel) && (from.IsZero() || from.Before(m.ID)) {
			out = append(out, m)
		}
	}
	return out
}

// sameMessages fails unless got are want, in order: same ids, channels,
// events, data, timestamps and binary flags.
func sameMessages(t *testing.T, what string, want, got []*server.Message) {
	t.Helper()
	if !slices.Equal(IDs(want), IDs(got)) {
		t.Fatalf("%s: want ids %v, got %v", what, IDs(want), IDs(got))
	}
	for i := range want {
		w, g := want[i].Envelope, got[i].Envelope
		if w.Channel != g.Channel || w.Event != g.Event || string(w.Data) != string(g.Data) || w.TS != g.TS || w.Binary != g.Binary {
			t.Fatalf("%s: message %s: want %+v, got %+v", what, w.ID, w, g)
		}
	}
}

// syncOn waits until r received marker, published after everything r may
// still receive: brokers deliver in id order, so nothing older arrives
// later.
//
// Replayed messages may come in the Resume or, for a broker that stores
// before it routes, in Deliver calls right after it: tests compare
// everything received, in order.
func syncOn(t *testing.T, r *Recorder, marker *server.Message) {
	t.Helper()
	r.WaitForID(t, marker.Envelope.ID)
}

func onlyResume(t *testing.T, r *Recorder) *server.Resume {
	t.Helper()
	rs := r.Resumes()
	if len(rs) != 1 {
		t.Fatalf("want one Resumed call, got %d", len(rs))
	}
	return rs[0]
}

func gapString(g *server.Gap) string {
	if g == nil {
		return "no gap"
	}
	return g.Reason + " " + strconv.Quote(g.LastEventID.String()) + "→" + strconv.Quote(g.ID.String()) + " " + strconv.Quote(strconvList(g.Channels))
}

func strconvList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
