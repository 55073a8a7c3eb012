package natsbroker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/duet-rt/duet/shared"
	"github.com/nats-io/nats.go"
	sse "github.com/tmaxmax/go-sse"
)

// TestConformance runs the broker conformance suite against one node over
// an embedded NATS server.
func TestConformance(t *testing.T) {
	n := startNATS(t)
	brokertest.Run(t, func(t *testing.T) server.Broker {
		return newBroker(t, n.URL(), natsbroker.Config{HistorySize: brokertest.HistorySize})
	})
}

// TestConformanceAcrossNodes runs the suite with every Publish on one node
// and everything else on another: the subscriber's node gets the messages
// only through the stream.
func TestConformanceAcrossNodes(t *testing.T) {
	n := startNATS(t)
	brokertest.Run(t, func(t *testing.T) server.Broker {
		cfg := natsbroker.Config{HistorySize: brokertest.HistorySize}
		publisher := newBroker(t, n.URL(), cfg)
		cfg.Stream, cfg.SubjectPrefix = publisher.Stream(), publisher.SubjectPrefix()
		return &splitBroker{Broker: newBroker(t, n.URL(), cfg), publisher: publisher}
	})
}

// splitBroker publishes through one node and subscribes through another.
type splitBroker struct {
	*natsbroker.Broker
	publisher *natsbroker.Broker
}

func (s *splitBroker) Publish(ctx context.Context, channel, event string, data []byte) (*server.Message, error) {
	if err := s.Broker.Healthy(); err == server.ErrBrokerClosed {
		return nil, err
	}
	return s.publisher.Publish(ctx, channel, event, data)
}

func (s *splitBroker) PublishBinary(ctx context.Context, channel, event string, data []byte) (*server.Message, error) {
	if err := s.Broker.Healthy(); err == server.ErrBrokerClosed {
		return nil, err
	}
	return s.publisher.PublishBinary(ctx, channel, event, data)
}

// Head is the subscriber node's head, once it has seen what was published.
func (s *splitBroker) Head() shared.ID {
	s.catchUp()
	return s.Broker.Head()
}

// Subscribe subscribes on the subscriber node once it has seen what was
// published. Across nodes, "published before the subscription" only means
// something when the subscriber knows of the publish: a node's live feed
// may hand over a message its publisher already had acknowledged.
func (s *splitBroker) Subscribe(ctx context.Context, sub server.Subscriber, channels []string, from shared.ID) error {
	s.catchUp()
	return s.Broker.Subscribe(ctx, sub, channels, from)
}

func (s *splitBroker) catchUp() {
	want := s.publisher.Head()
	deadline := time.Now().Add(10 * time.Second)
	for s.Broker.Head().Compare(want) < 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func (s *splitBroker) Close() error {
	_ = s.publisher.Close()
	return s.Broker.Close()
}

func mustPublish(t *testing.T, b server.Broker, channel string, n int) *server.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := b.Publish(ctx, channel, "message", []byte(strconv.Itoa(n)))
	if err != nil {
		t.Fatalf("publish %d to %s: %v", n, channel, err)
	}
	return m
}

func mustSubscribe(t *testing.T, b server.Broker, sub server.Subscriber, from shared.ID, channels ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Subscribe(ctx, sub, channels, from); err != nil {
		t.Fatalf("subscribe %v from %v: %v", channels, from, err)
	}
}

func sameIDs(t *testing.T, what string, want, got []*server.Message) {
	t.Helper()
	if w, g := brokertest.IDs(want), brokertest.IDs(got); !slices.Equal(w, g) {
		t.Fatalf("%s:\nwant %v\n got %v", what, w, g)
	}
}

// TestIDsAcrossNodes: nodes on one stream share the id sequence and its
// epoch, and an id from one resumes on the other.
func TestIDsAcrossNodes(t *testing.T) {
	n := startNATS(t)
	a := newBroker(t, n.URL(), natsbroker.Config{})
	b := newBroker(t, n.URL(), natsbroker.Config{Stream: a.Stream(), SubjectPrefix: a.SubjectPrefix()})
	if a.Epoch() != b.Epoch() {
		t.Fatalf("epochs differ: %d and %d", a.Epoch(), b.Epoch())
	}
	var all []*server.Message
	for i := range 10 {
		node := []server.Broker{a, b}[i%2]
		all = append(all, mustPublish(t, node, "c", i))
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].ID.Before(all[i].ID) {
			t.Fatalf("ids out of order across nodes: %v then %v", all[i-1].ID, all[i].ID)
		}
	}
	r := brokertest.NewRecorder()
	mustSubscribe(t, b, r, all[3].ID, "c") // an id b issued… and a's after it
	sameIDs(t, "replay on the other node", all[4:], r.Received())

	// A later restart of a node keeps the epoch: it is the stream's.
	_ = a.Close()
	a2 := newBroker(t, n.URL(), natsbroker.Config{Stream: b.Stream(), SubjectPrefix: b.SubjectPrefix()})
	if a2.Epoch() != b.Epoch() || a2.Head() != all[len(all)-1].ID {
		t.Fatalf("restarted node: epoch %d head %v, want %d and %v", a2.Epoch(), a2.Head(), b.Epoch(), all[len(all)-1].ID)
	}
}

// TestNodeLosesNATS: a node cut off from NATS keeps its subscribers,
// reports unhealthy (503 on /rt/healthz), refuses publishes and resumes
// with a retryable code, and when the link is back delivers everything the
// other nodes published meanwhile, in order, once.
func TestNodeLosesNATS(t *testing.T) {
	n := startNATS(t)
	link := startProxy(t, n.URL()[len("nats://"):])
	cut := newBroker(t, link.URL(), natsbroker.Config{})
	other := newBroker(t, n.URL(), natsbroker.Config{Stream: cut.Stream(), SubjectPrefix: cut.SubjectPrefix()})
	hub, err := server.NewHub(&server.Config{Broker: cut})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub.HealthHandler())
	t.Cleanup(srv.Close)
	healthz := func() int {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("healthz before the outage: %d", code)
	}

	live, resumed := brokertest.NewRecorder(), brokertest.NewRecorder()
	first := mustPublish(t, other, "c", 0)
	waitUntil(t, "the node to see the first message", 10*time.Second, func() bool { return cut.Head() == first.ID })
	mustSubscribe(t, cut, live, shared.ID{}, "c")
	mustSubscribe(t, cut, resumed, first.ID, "c")
	var all []*server.Message
	all = append(all, mustPublish(t, other, "c", 1))
	live.WaitForID(t, all[0].Envelope.ID)

	link.setUp(false)
	waitUntil(t, "the node to notice the outage", 10*time.Second, func() bool { return cut.Healthy() != nil })
	if code := healthz(); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz during the outage: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cut.Publish(ctx, "c", "message", []byte(`1`)); !isUnavailable(err) {
		t.Fatalf("publish during the outage: want code 4003, got %v", err)
	}
	if err := cut.Subscribe(ctx, brokertest.NewRecorder(), []string{"c"}, first.ID); !isUnavailable(err) {
		t.Fatalf("resume during the outage: want code 4003, got %v", err)
	}
	// Subscribing without an id needs no NATS.
	late := brokertest.NewRecorder()
	mustSubscribe(t, cut, late, shared.ID{}, "c")

	for i := range 20 {
		all = append(all, mustPublish(t, other, "c", 2+i))
	}
	link.setUp(true)
	waitUntil(t, "the node to recover", 15*time.Second, func() bool { return cut.Healthy() == nil })
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("healthz after the outage: %d", code)
	}
	all = append(all, mustPublish(t, cut, "c", 100))
	live.WaitForID(t, all[len(all)-1].Envelope.ID)
	sameIDs(t, "live subscriber across the outage", all, live.Received())
	resumed.WaitForID(t, all[len(all)-1].Envelope.ID)
	sameIDs(t, "resumed subscriber across the outage", all, resumed.Received())
	late.WaitForID(t, all[len(all)-1].Envelope.ID)
	// Subscribed during the outage at the node's position: it gets what
	// the stream got after that, which is everything published meanwhile.
	sameIDs(t, "subscriber from during the outage", all[1:], late.Received())
}

func isUnavailable(err error) bool {
	code, ok := shared.ErrorCode(err)
	return ok && code == shared.CodeBrokerUnavailable
}

// TestNATSRestart: NATS restarts (same store); nodes keep their
// subscribers, come back healthy with the same epoch, and deliver what is
// published after the restart without a gap.
func TestNATSRestart(t *testing.T) {
	n := startNATS(t)
	a := newBroker(t, n.URL(), natsbroker.Config{})
	b := newBroker(t, n.URL(), natsbroker.Config{Stream: a.Stream(), SubjectPrefix: a.SubjectPrefix()})
	r := brokertest.NewRecorder()
	mustSubscribe(t, b, r, shared.ID{}, "c")
	var all []*server.Message
	for i := range 5 {
		all = append(all, mustPublish(t, a, "c", i))
	}
	r.WaitForID(t, all[len(all)-1].Envelope.ID)
	epoch := a.Epoch()

	n.Stop()
	waitUntil(t, "both nodes to notice", 10*time.Second, func() bool { return a.Healthy() != nil && b.Healthy() != nil })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both nodes to recover", 20*time.Second, func() bool { return a.Healthy() == nil && b.Healthy() == nil })
	for i := range 5 {
		all = append(all, mustPublish(t, a, "c", 10+i))
	}
	r.WaitForID(t, all[len(all)-1].Envelope.ID)
	sameIDs(t, "across the restart", all, r.Received())
	if a.Epoch() != epoch || b.Epoch() != epoch || all[len(all)-1].ID.Epoch != epoch {
		t.Fatalf("epoch changed across a NATS restart with file storage: %d → %d", epoch, a.Epoch())
	}
	// An id from before the restart resumes exactly.
	r2 := brokertest.NewRecorder()
	mustSubscribe(t, b, r2, all[2].ID, "c")
	sameIDs(t, "resume from before the restart", all[3:], r2.Received())
}

// TestGapConservative: a channel with nothing after the resume id, resumed
// from an id older than the whole stream, is reported (the broker cannot
// tell it lost nothing); a channel holding a message from before the id is
// not.
func TestGapConservative(t *testing.T) {
	n := startNATS(t)
	b := newBroker(t, n.URL(), natsbroker.Config{HistorySize: 2})
	quiet := mustPublish(t, b, "quiet", 0)
	for i := range 3 {
		mustPublish(t, b, "busy", 1+i) // evicts busy's first message
	}
	keep := mustPublish(t, b, "keep", 9)
	_ = keep
	r := brokertest.NewRecorder()
	mustSubscribe(t, b, r, quiet.ID, "quiet", "keep", "empty")
	res := r.Resumes()[0]
	// keep: its first message is after the id, but the stream's first
	// sequence is not past the id and keep never filled its limit: exact.
	// empty: the same. quiet holds the id's own message: exact.
	if res.Gap != nil {
		t.Fatalf("want no gap, got %+v", res.Gap)
	}

	// Age eviction past the id: now only what the stream still holds can
	// be vouched for.
	b2 := newBroker(t, n.URL(), natsbroker.Config{HistoryTTL: 500 * time.Millisecond})
	old := mustPublish(t, b2, "gone", 0)
	time.Sleep(600 * time.Millisecond)
	waitUntil(t, "age eviction", 10*time.Second, func() bool {
		r := brokertest.NewRecorder()
		mustSubscribe(t, b2, r, shared.ID{Epoch: old.ID.Epoch, Seq: 0}, "gone")
		return r.Resumes()[0].Gap != nil
	})
	fresh := mustPublish(t, b2, "other", 1)
	r = brokertest.NewRecorder()
	mustSubscribe(t, b2, r, shared.ID{Epoch: old.ID.Epoch, Seq: 0}, "gone", "other")
	g := r.Resumes()[0].Gap
	if g == nil || !slices.Equal(g.Channels, []string{"gone", "other"}) || g.Reason != shared.GapExpired {
		t.Fatalf("gap after age eviction: %+v", g)
	}
	// other lost nothing, but its only message is after the evicted one:
	// conservative. The position after the gap stops before it.
	if g.ID.Seq != fresh.ID.Seq-1 {
		t.Fatalf("gap position %v, want just before %v", g.ID, fresh.ID)
	}
	r.WaitForID(t, fresh.Envelope.ID)
	sameIDs(t, "replay", []*server.Message{fresh}, r.Received())
}

// TestForeignMessages: messages on the stream that Duet did not publish
// (not JSON) are skipped, live and in replays, and do not stop the feed.
func TestForeignMessages(t *testing.T) {
	n := startNATS(t)
	b := newBroker(t, n.URL(), natsbroker.Config{})
	r := brokertest.NewRecorder()
	mustSubscribe(t, b, r, shared.ID{}, "c")
	first := mustPublish(t, b, "c", 1)

	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(b.SubjectPrefix()+".c", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the foreign message to be stored", 5*time.Second, func() bool { return b.Head().Seq >= first.ID.Seq+1 })
	last := mustPublish(t, b, "c", 2)
	r.WaitForID(t, last.Envelope.ID)
	sameIDs(t, "live", []*server.Message{first, last}, r.Received())

	r2 := brokertest.NewRecorder()
	mustSubscribe(t, b, r2, shared.ID{Epoch: first.ID.Epoch, Seq: 0}, "c")
	sameIDs(t, "replay", []*server.Message{first, last}, r2.Received())
}

// TestNewFailsWithoutNATS: New reports an unreachable server as broker
// unavailable, promptly.
func TestNewFailsWithoutNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := natsbroker.New(ctx, &natsbroker.Config{URL: "nats://127.0.0.1:1", RequestTimeout: time.Second})
	if !isUnavailable(err) {
		t.Fatalf("want code 4003, got %v", err)
	}
}

// TestHistoryLimitRaised: a channel that overflowed a lower per-channel
// limit than today's still gets its gap notice (the stream remembers the
// lowest limit it had).
func TestHistoryLimitRaised(t *testing.T) {
	n := startNATS(t)
	small := newBroker(t, n.URL(), natsbroker.Config{HistorySize: 2})
	anchor := mustPublish(t, small, "a", 0)
	var cs []*server.Message
	for i := range 3 {
		cs = append(cs, mustPublish(t, small, "c", 1+i)) // evicts the first
	}
	_ = small.Close()

	big := newBroker(t, n.URL(), natsbroker.Config{Stream: small.Stream(), SubjectPrefix: small.SubjectPrefix(), HistorySize: 100})
	r := brokertest.NewRecorder()
	mustSubscribe(t, big, r, anchor.ID, "c")
	g := r.Resumes()[0].Gap
	if g == nil || !slices.Equal(g.Channels, []string{"c"}) || g.ID != cs[0].ID {
		t.Fatalf("gap: want c lost through %v, got %+v", cs[0].ID, g)
	}
	r.WaitForID(t, cs[2].Envelope.ID)
	sameIDs(t, "replay", cs[1:], r.Received())
}

// TestHubsOnTwoNodes: two hubs over one stream, as two nodes serve behind
// a proxy. A message published through one node's POST /rt/publish reaches
// an SSE client of the other, and its id resumes a WebSocket on the first.
func TestHubsOnTwoNodes(t *testing.T) {
	n := startNATS(t)
	ba := newBroker(t, n.URL(), natsbroker.Config{})
	bb := newBroker(t, n.URL(), natsbroker.Config{Stream: ba.Stream(), SubjectPrefix: ba.SubjectPrefix()})
	node := func(b server.Broker) *httptest.Server {
		hub, err := server.NewHub(&server.Config{Broker: b})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(hub.Handler())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hub.Shutdown(ctx)
			srv.Close()
		})
		return srv
	}
	a, b := node(ba), node(bb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	post := func(srv *httptest.Server, n int) string {
		t.Helper()
		body := `{"channel":"room.1","data":` + strconv.Itoa(n) + `}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/rt/publish", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d %v", resp.StatusCode, err)
		}
		return ack.ID
	}
	first := post(a, 1)
	second := post(b, 2)

	// SSE on b, resuming from the id a gave: the message b published.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+"/rt/sse?channel=room.1&lastEventId="+first, nil)
	resp, err := b.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for ev, err := range sse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "message" {
			if ev.LastEventID != second {
				t.Fatalf("SSE on node b resumed from %s: got %s, want %s", first, ev.LastEventID, second)
			}
			break
		}
		if ev.Type == "duet.gap" {
			t.Fatalf("gap: %s", ev.Data)
		}
	}

	// WebSocket on a, resuming from the id b gave: only what came after.
	third := post(b, 3)
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL, "http")+"/rt/ws", &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sub := shared.Frame{Type: shared.TypeSubscribe, Channels: []string{"room.1"}, LastEventID: second}
	if err := ws.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.SplitSeq(data, []byte{'\n'}) { // frames may be batched
			if len(line) == 0 {
				continue
			}
			f, err := shared.DecodeFrame(line)
			if err != nil {
				t.Fatal(err)
			}
			if f.Type == shared.TypeGap || f.Type == shared.TypeError {
				t.Fatalf("unexpected %s frame: %s", f.Type, line)
			}
			if f.Type == shared.TypeMessage && !got {
				if f.ID != third {
					t.Fatalf("WebSocket on node a resumed from %s: got %s, want %s", second, f.ID, third)
				}
				got = true
			}
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
