package brokertest

import (
	"errors"
	"slices"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// testHistory: pages of a channel's history, walked backward from the
// newest and forward from an id, add up to exactly its messages in order;
// an unknown channel is an empty, complete page; a future id is refused; an
// id of another epoch and a since older than what is kept answer what is
// kept with Complete false. Brokers that are not HistoryBrokers skip it.
func testHistory(t *testing.T, b server.Broker) {
	hb, ok := b.(server.HistoryBroker)
	if !ok {
		t.Skip("not a server.HistoryBroker")
	}
	var h []*server.Message
	for i := range 15 {
		m := publish(t, b, []string{"h", "x", "h"}[i%3], i)
		if m.Envelope.Channel == "h" {
			h = append(h, m)
		}
	}
	page := func(q server.HistoryQuery, channel string) server.HistoryPage {
		t.Helper()
		p, err := hb.History(ctxFor(t), channel, q)
		if err != nil {
			t.Fatalf("History(%s, %+v): %v", channel, q, err)
		}
		return p
	}

	t.Run("backward", func(t *testing.T) {
		var got []*server.Message
		q := server.HistoryQuery{Limit: 4}
		for range 10 {
			p := page(q, "h")
			if !p.Complete {
				t.Fatalf("page before %v: Complete false, nothing was lost", q.Since)
			}
			got = append(slices.Clone(p.Messages), got...)
			if p.Next.IsZero() {
				break
			}
			if p.Next != p.Messages[0].ID {
				t.Fatalf("Next %v, want the page's oldest %v", p.Next, p.Messages[0].ID)
			}
			q = server.HistoryQuery{Since: p.Next, Limit: 4, Reverse: true}
		}
		sameMessages(t, "pages walked backward", h, got)
	})

	t.Run("forward", func(t *testing.T) {
		got := []*server.Message{}
		q := server.HistoryQuery{Since: h[0].ID, Limit: 3}
		for range 10 {
			p := page(q, "h")
			if !p.Complete {
				t.Fatalf("page after %v: Complete false, nothing was lost", q.Since)
			}
			got = append(got, p.Messages...)
			if p.Next.IsZero() {
				break
			}
			if p.Next != p.Messages[len(p.Messages)-1].ID {
				t.Fatalf("Next %v, want the page's newest", p.Next)
			}
			q.Since = p.Next
		}
		sameMessages(t, "pages walked forward", h[1:], got)
	})

	t.Run("limits", func(t *testing.T) {
		sameMessages(t, "no limit", h, page(server.HistoryQuery{}, "h").Messages)
		p := page(server.HistoryQuery{Since: h[len(h)-1].ID, Limit: 5}, "h")
		if len(p.Messages) != 0 || !p.Next.IsZero() || !p.Complete {
			t.Fatalf("after the newest: %d messages, next %v, complete %v", len(p.Messages), p.Next, p.Complete)
		}
		p = page(server.HistoryQuery{Limit: 5}, "nobody-here")
		if len(p.Messages) != 0 || !p.Next.IsZero() || !p.Complete {
			t.Fatalf("an unknown channel: %d messages, next %v, complete %v", len(p.Messages), p.Next, p.Complete)
		}
		head := b.Head()
		_, err := hb.History(ctxFor(t), "h", server.HistoryQuery{Since: shared.ID{Epoch: head.Epoch, Seq: head.Seq + 5}})
		if !errors.Is(err, server.ErrFutureID) {
			t.Fatalf("a future id: want ErrFutureID, got %v", err)
		}
		p = page(server.HistoryQuery{Since: shared.ID{Epoch: head.Epoch - 1, Seq: 3}, Limit: 2}, "h")
		if p.Complete {
			t.Fatal("an id of another epoch: Complete true")
		}
		sameMessages(t, "an id of another epoch", h[:2], p.Messages)
	})

	t.Run("lost", func(t *testing.T) {
		var g []*server.Message
		for i := range HistorySize + 5 {
			g = append(g, publish(t, b, "g", i))
		}
		p := page(server.HistoryQuery{Since: g[0].ID, Limit: 1000}, "g")
		if p.Complete {
			t.Fatal("since older than what is kept: Complete true")
		}
		sameMessages(t, "what is kept", g[5:], p.Messages)
		p = page(server.HistoryQuery{Since: g[8].ID, Limit: 5, Reverse: true}, "g")
		if p.Complete || !p.Next.IsZero() {
			t.Fatalf("backward to the oldest kept: complete %v, next %v; want false and none", p.Complete, p.Next)
		}
		sameMessages(t, "backward to the oldest kept", g[5:8], p.Messages)
		p = page(server.HistoryQuery{Since: g[10].ID, Limit: 3, Reverse: true}, "g")
		if !p.Complete || p.Next != g[7].ID {
			t.Fatalf("a full page backward: complete %v, next %v; want true and %v", p.Complete, p.Next, g[7].ID)
		}
		sameMessages(t, "a full page backward", g[7:10], p.Messages)

		// h's messages are now far behind the newest: a walk backward
		// must look past a hundred messages of another channel.
		p = page(server.HistoryQuery{Limit: 2}, "h")
		if !p.Complete || p.Next != h[len(h)-2].ID {
			t.Fatalf("a quiet channel's newest: complete %v, next %v", p.Complete, p.Next)
		}
		sameMessages(t, "a quiet channel's newest", h[len(h)-2:], p.Messages)
	})
}
