package natsbroker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/nats-io/nats.go"
)

// fastPresence beats every 100ms and times nodes out after 600ms.
func fastPresence(cfg natsbroker.Config) natsbroker.Config {
	cfg.PresenceHeartbeat, cfg.PresenceTimeout = 100*time.Millisecond, 600*time.Millisecond
	return cfg
}

// TestPresenceConformance runs the presence store suite on one node and
// on two nodes of one cluster (joins on the first, reads and events on
// both).
func TestPresenceConformance(t *testing.T) {
	n := startNATS(t)
	t.Run("one node", func(t *testing.T) {
		brokertest.RunPresence(t, func(t *testing.T) []server.PresenceStore {
			return []server.PresenceStore{newBroker(t, n.URL(), fastPresence(natsbroker.Config{})).PresenceStore()}
		})
	})
	t.Run("two nodes", func(t *testing.T) {
		brokertest.RunPresence(t, func(t *testing.T) []server.PresenceStore {
			a := newBroker(t, n.URL(), fastPresence(natsbroker.Config{}))
			cfg := fastPresence(natsbroker.Config{Stream: a.Stream(), SubjectPrefix: a.SubjectPrefix()})
			b := newBroker(t, n.URL(), cfg)
			stores := []server.PresenceStore{a.PresenceStore(), b.PresenceStore()}
			meet(t, stores)
			return stores
		})
	})
}

// meet waits until the stores know each other's entries, as nodes that
// run for a while do: a node's changes made before it first heard of
// another reach that one as the state they led to, not as events.
func meet(t *testing.T, stores []server.PresenceStore) {
	t.Helper()
	ctx := context.Background()
	for i, s := range stores {
		if err := s.Join(ctx, "probe", server.PresenceEntry{Client: "probe" + string(rune('0'+i))}, server.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stores {
		waitUntil(t, "the nodes meet", 10*time.Second, func() bool { return len(clients(t, s, "probe")) == len(stores) })
	}
	for i, s := range stores {
		if err := s.Leave(ctx, "probe", "probe"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stores {
		waitUntil(t, "the probes leave", 10*time.Second, func() bool { return len(clients(t, s, "probe")) == 0 })
	}
}

// events records a store's events as "join C client" / "leave C client".
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(ev *server.PresenceEvent) {
	kind := "join "
	if ev.Leave {
		kind = "leave "
	}
	e.mu.Lock()
	e.got = append(e.got, kind+ev.Channel+" "+ev.Entry.Client)
	e.mu.Unlock()
}

func (e *events) has(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.got, s)
}

func clients(t *testing.T, s server.PresenceStore, channel string) []string {
	t.Helper()
	es, err := s.Presence(context.Background(), channel)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Client)
	}
	slices.Sort(out)
	return out
}

// TestPresenceNodeVanishes: a node that loses NATS without a goodbye (its
// connection cut, as a crash would) has its clients leave on the others
// within the presence timeout, with leave events; a node that joins late
// learns the entries of those already there, and one that closes leaves at
// once.
func TestPresenceNodeVanishes(t *testing.T) {
	n := startNATS(t)
	a := newBroker(t, n.URL(), fastPresence(natsbroker.Config{}))
	shared := fastPresence(natsbroker.Config{Stream: a.Stream(), SubjectPrefix: a.SubjectPrefix()})
	pa := a.PresenceStore()
	ctx := context.Background()
	announce := server.JoinOptions{Announce: true}
	if err := pa.Join(ctx, "room", server.PresenceEntry{Client: "a1", User: "ann"}, announce); err != nil {
		t.Fatal(err)
	}
	var heard events
	defer pa.Watch(heard.add)()

	// A node with a connection of its own that the test cuts.
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cfgB := shared
	cfgB.Conn = nc
	b := newBroker(t, "", cfgB)
	pb := b.PresenceStore()
	waitUntil(t, "the late node learns a1", 5*time.Second, func() bool { return slices.Equal(clients(t, pb, "room"), []string{"a1"}) })
	if err := pb.Join(ctx, "room", server.PresenceEntry{Client: "b1", User: "bob"}, announce); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b1's join on a", 5*time.Second, func() bool { return heard.has("join room b1") })
	if got := clients(t, pa, "room"); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("node a lists %v", got)
	}

	nc.Close() // no goodbye: b's broker is still open
	cut := time.Now()
	waitUntil(t, "b1's leave on a", 5*time.Second, func() bool { return heard.has("leave room b1") })
	t.Logf("a vanished node's client left after %v (timeout 600ms, heartbeat 100ms)", time.Since(cut).Round(time.Millisecond))
	if got := clients(t, pa, "room"); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("after b vanished, node a lists %v", got)
	}

	// A node that closes says goodbye: its clients leave at once (well
	// within the timeout).
	c := newBroker(t, n.URL(), shared)
	pc := c.PresenceStore()
	if err := pc.Join(ctx, "room", server.PresenceEntry{Client: "c1"}, announce); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "c1's join on a", 5*time.Second, func() bool { return heard.has("join room c1") })
	closed := time.Now()
	_ = c.Close()
	waitUntil(t, "c1's leave on a", 5*time.Second, func() bool { return heard.has("leave room c1") })
	if d := time.Since(closed); d > 400*time.Millisecond {
		t.Logf("c1 left %v after its node closed: later than a goodbye should take (busy machine?)", d)
	}
}
