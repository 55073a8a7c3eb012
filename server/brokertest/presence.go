package brokertest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// RunPresence runs the conformance suite of server.PresenceStore.
// newStores returns one or more new, empty stores that share their
// presence (the nodes of one cluster; one store for a single-process
// store); the suite joins through the first and reads and watches through
// every one. Stores may apply another node's changes asynchronously: the
// suite waits for them.
func RunPresence(t *testing.T, newStores func(t *testing.T) []server.PresenceStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, stores []server.PresenceStore)
	}{
		{"JoinAndList", testPresenceList},
		{"Leave", testPresenceLeave},
		{"Events", testPresenceEvents},
		{"Bounds", testPresenceBounds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStores(t)) })
	}
}

func join(t *testing.T, s server.PresenceStore, channel, client, user string, o server.JoinOptions) {
	t.Helper()
	if err := s.Join(ctxFor(t), channel, server.PresenceEntry{Client: client, User: user}, o); err != nil {
		t.Fatalf("join %s to %s: %v", client, channel, err)
	}
}

func sortedEntries(es []server.PresenceEntry) []server.PresenceEntry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b server.PresenceEntry) int { return strings.Compare(a.Client, b.Client) })
	return es
}

// waitPresence waits until every store lists want in channel, with the
// matching stats.
func waitPresence(t *testing.T, stores []server.PresenceStore, channel string, want []server.PresenceEntry, users int) {
	t.Helper()
	want = sortedEntries(want)
	deadline := time.Now().Add(waitTimeout)
	for i, s := range stores {
		for {
			got, err := s.Presence(ctxFor(t), channel)
			if err != nil {
				t.Fatalf("store %d: presence of %s: %v", i, channel, err)
			}
			st, err := s.PresenceStats(ctxFor(t), channel)
			if err != nil {
				t.Fatalf("store %d: stats of %s: %v", i, channel, err)
			}
			got = sortedEntries(got)
			if slices.EqualFunc(got, want, sameEntry) && st == (server.PresenceStats{Clients: len(want), Users: users}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("store %d: presence of %s: want %v (%d users), got %v, stats %+v", i, channel, want, users, got, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func sameEntry(a, b server.PresenceEntry) bool {
	return a.Client == b.Client && a.User == b.User && string(a.Info) == string(b.Info)
}

// testPresenceList: joins are listed with their user and info, counted in
// clients and distinct non-empty users; a second join of a client replaces
// its entry; channels are apart.
func testPresenceList(t *testing.T, stores []server.PresenceStore) {
	s := stores[0]
	waitPresence(t, stores, "room", nil, 0)
	join(t, s, "room", "c1", "ann", server.JoinOptions{})
	join(t, s, "room", "c2", "ann", server.JoinOptions{})
	join(t, s, "room", "c3", "", server.JoinOptions{})
	info := server.PresenceEntry{Client: "c4", User: "bob", Info: []byte(`{"name":"Bob"}`)}
	if err := s.Join(ctxFor(t), "room", info, server.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	join(t, s, "other", "c1", "ann", server.JoinOptions{})
	waitPresence(t, stores, "room", []server.PresenceEntry{{Client: "c1", User: "ann"}, {Client: "c2", User: "ann"}, {Client: "c3"}, info}, 2)
	waitPresence(t, stores, "other", []server.PresenceEntry{{Client: "c1", User: "ann"}}, 1)
	// Joining again replaces the entry (info changed, user changed).
	join(t, s, "room", "c4", "carl", server.JoinOptions{})
	waitPresence(t, stores, "room", []server.PresenceEntry{{Client: "c1", User: "ann"}, {Client: "c2", User: "ann"}, {Client: "c3"}, {Client: "c4", User: "carl"}}, 2)
}

// testPresenceLeave: a leave removes one client from one channel; unknown
// clients and channels are ignored.
func testPresenceLeave(t *testing.T, stores []server.PresenceStore) {
	s := stores[0]
	join(t, s, "room", "c1", "ann", server.JoinOptions{})
	join(t, s, "room", "c2", "ann", server.JoinOptions{})
	join(t, s, "other", "c1", "ann", server.JoinOptions{})
	for _, l := range [][2]string{{"room", "c1"}, {"room", "nobody"}, {"nowhere", "c1"}} {
		if err := s.Leave(ctxFor(t), l[0], l[1]); err != nil {
			t.Fatalf("leave %s of %s: %v", l[1], l[0], err)
		}
	}
	waitPresence(t, stores, "room", []server.PresenceEntry{{Client: "c2", User: "ann"}}, 1)
	waitPresence(t, stores, "other", []server.PresenceEntry{{Client: "c1", User: "ann"}}, 1)
	if err := s.Leave(ctxFor(t), "room", "c2"); err != nil {
		t.Fatal(err)
	}
	waitPresence(t, stores, "room", nil, 0)
}

// eventLog records a store's events.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(ev *server.PresenceEvent) {
	kind := "join"
	if ev.Leave {
		kind = "leave"
	}
	l.mu.Lock()
	l.events = append(l.events, kind+" "+ev.Channel+" "+ev.Entry.Client+" "+ev.Entry.User)
	l.mu.Unlock()
}

// waitFor waits until the log holds want, in order, and nothing else.
func (l *eventLog) waitFor(t *testing.T, what string, want []string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		l.mu.Lock()
		got := slices.Clone(l.events)
		l.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("%s: want events %q, got %q", what, want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testPresenceEvents: every store's watchers get the joins and leaves of
// entries joined with Announce, once, in order per client; not those of
// other entries, nor a replacing join; not after stop.
func testPresenceEvents(t *testing.T, stores []server.PresenceStore) {
	logs := make([]*eventLog, len(stores))
	for i, s := range stores {
		logs[i] = &eventLog{}
		stop := s.Watch(logs[i].add)
		t.Cleanup(stop)
	}
	s := stores[0]
	announce := server.JoinOptions{Announce: true}
	join(t, s, "quiet", "q1", "ann", server.JoinOptions{})
	join(t, s, "loud", "c1", "ann", announce)
	join(t, s, "loud", "c1", "ann", announce) // a replacement: no event
	join(t, s, "loud", "c2", "", announce)
	if err := s.Leave(ctxFor(t), "quiet", "q1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctxFor(t), "loud", "c1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"join loud c1 ann", "join loud c2 ", "leave loud c1 ann"}
	for i, l := range logs {
		l.waitFor(t, "store "+string(rune('0'+i)), want)
	}
	// A stopped watcher hears nothing more.
	stop := stores[len(stores)-1].Watch(func(*server.PresenceEvent) { t.Error("a stopped watcher was called") })
	stop()
	if err := s.Leave(ctxFor(t), "loud", "c2"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "leave loud c2 ")
	for i, l := range logs {
		l.waitFor(t, "store "+string(rune('0'+i))+" after the last leave", want)
	}
}

// testPresenceBounds: a join past MaxClients of a channel or MaxEntries in
// all is refused with shared.CodeOverloaded; a replacing join is not.
func testPresenceBounds(t *testing.T, stores []server.PresenceStore) {
	s := stores[0]
	o := server.JoinOptions{MaxClients: 2, MaxEntries: 3}
	join(t, s, "a", "c1", "", o)
	join(t, s, "a", "c2", "", o)
	join(t, s, "a", "c2", "ann", o) // replaces
	refused := func(what string, err error) {
		t.Helper()
		if code, _ := shared.ErrorCode(err); code != shared.CodeOverloaded {
			t.Fatalf("%s: want a 4503 refusal, got %v", what, err)
		}
	}
	refused("third client of a channel", s.Join(ctxFor(t), "a", server.PresenceEntry{Client: "c3"}, o))
	join(t, s, "b", "c1", "", o)
	refused("fourth entry", s.Join(ctxFor(t), "c", server.PresenceEntry{Client: "c1"}, o))
	waitPresence(t, stores, "a", []server.PresenceEntry{{Client: "c1"}, {Client: "c2", User: "ann"}}, 1)
	waitPresence(t, stores, "c", nil, 0)
	if err := s.Leave(ctxFor(t), "b", "c1"); err != nil {
		t.Fatal(err)
	}
	join(t, s, "c", "c1", "", o)
}
