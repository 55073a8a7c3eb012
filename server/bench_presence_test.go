package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// presenceMembers is the size of the channel the presence benchmarks read.
const presenceMembers = 10000

// fullPresence returns a MemoryPresence whose channel "big" has
// presenceMembers clients of presenceMembers/2 users.
func fullPresence(b *testing.B) *MemoryPresence {
	b.Helper()
	p := NewMemoryPresence()
	for i := range presenceMembers {
		e := PresenceEntry{Client: "client-" + strconv.Itoa(i), User: "user-" + strconv.Itoa(i/2)}
		if err := p.Join(context.Background(), "big", e, JoinOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// BenchmarkPresenceStats10k: the counts of a channel of 10k members, from
// the store (O(1)).
func BenchmarkPresenceStats10k(b *testing.B) {
	p := fullPresence(b)
	ctx := context.Background()
	for b.Loop() {
		s, _ := p.PresenceStats(ctx, "big")
		if s.Clients != presenceMembers {
			b.Fatal(s)
		}
	}
}

// BenchmarkPresenceHTTP10k: GET /rt/presence of a channel of 10k members
// over a real socket, counts only and the full list.
func BenchmarkPresenceHTTP10k(b *testing.B) {
	cfg := testConfig()
	cfg.Presence = fullPresence(b)
	cfg.PresenceChannels = []string{"big"}
	cfg.IdentityPublishRate = -1 // full reads count as publishes
	ts := newTestServer(b, cfg, MemoryConfig{})
	client := ts.srv.Client()
	for _, tt := range []struct{ name, query string }{{"stats", "&stats=1"}, {"list", ""}} {
		b.Run(tt.name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				resp, err := client.Get(ts.url + "/rt/presence?channel=big" + tt.query)
				if err != nil {
					b.Fatal(err)
				}
				size, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
			}
			b.ReportMetric(float64(size), "B/answer")
		})
	}
}
