//go:build !js

package natsbroker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server/natsbroker/internal/cluster"
	"github.com/duet-rt/duet/shared"
)

// TestClusterPresence runs two bin/duet nodes over NATS (behind nginx, as
// TestCluster): a client of each node is listed on both, each hears the
// other join, and when one node is killed with SIGKILL its client leaves
// on the other, with a leave event, within bin/duet's presence timeout.
// Skipped without nginx and in -short mode.
func TestClusterPresence(t *testing.T) {
	nginx := needNginx(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(ctx, t, nginx, cluster.Config{
		Port:      18234,
		NodePorts: [2]int{18235, 18236},
		NATSPort:  18237,
		NodeArgs:  []string{"-presence", "room:*", "-join-leave", "room:*"},
	})

	a, aID := dialPresence(ctx, t, c.NodeURL(0), "room:x")
	b, bID := dialPresence(ctx, t, c.NodeURL(1), "room:x")
	a.expectEvent(t, "join", bID, 10*time.Second)
	// Each node learns of the other's clients asynchronously (a node that
	// hears of a new peer asks it for its entries): both lists converge
	// within a bound, not at once.
	for i := range 2 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := readPresence(ctx, t, c.NodeURL(i), "room:x")
			if got.Count == 2 && len(got.Clients) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d lists %+v after 10s, want %s and %s", i+1, got, aID, bID)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	killed := time.Now()
	if err := c.KillNode(1); err != nil {
		t.Fatal(err)
	}
	a.expectEvent(t, "leave", bID, 30*time.Second)
	t.Logf("the client of a killed node left %v after SIGKILL (bin/duet: heartbeat 3s, timeout 10s)", time.Since(killed).Round(10*time.Millisecond))
	got := readPresence(ctx, t, c.NodeURL(0), "room:x")
	if got.Count != 1 || got.Clients[0].Client != aID {
		t.Fatalf("after the kill node 1 lists %+v, want only %s", got, aID)
	}
	_ = b
}

// presenceConn is a WebSocket subscribed to a channel, whose join and
// leave frames are collected.
type presenceConn struct {
	frames chan shared.Frame
}

func dialPresence(ctx context.Context, t *testing.T, base, channel string) (*presenceConn, string) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/rt/ws", &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	pc := &presenceConn{frames: make(chan shared.Frame, 64)}
	hello := make(chan string, 1)
	go func() {
		defer close(pc.frames)
		for {
			_, p, err := ws.Read(ctx)
			if err != nil {
				return
			}
			for line := range bytes.SplitSeq(p, []byte{'\n'}) {
				f, err := shared.DecodeFrame(line)
				if err != nil {
					continue
				}
				switch f.Type {
				case shared.TypeHello:
					hello <- f.Client
				case shared.TypeJoin, shared.TypeLeave:
					pc.frames <- f
				}
			}
		}
	}()
	var id string
	select {
	case id = <-hello:
	case <-time.After(10 * time.Second):
		t.Fatal("no hello")
	}
	sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{channel}}
	if err := ws.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)); err != nil {
		t.Fatal(err)
	}
	return pc, id
}

func (pc *presenceConn) expectEvent(t *testing.T, typ, client string, within time.Duration) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-pc.frames:
			if !ok {
				t.Fatalf("connection ended before the %s of %s", typ, client)
			}
			if f.Type == typ && f.Client == client {
				return
			}
		case <-timer.C:
			t.Fatalf("no %s of %s within %v", typ, client, within)
		}
	}
}

type presenceAnswer struct {
	Count   int `json:"count"`
	Clients []struct {
		Client string `json:"client"`
	} `json:"clients"`
}

// readPresence reads GET /rt/presence of channel from a node, waiting a
// moment for a subscribe it raced with.
func readPresence(ctx context.Context, t *testing.T, base, channel string) presenceAnswer {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rt/presence?channel="+channel, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /rt/presence: %d %s", resp.StatusCode, body)
	}
	var p presenceAnswer
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}
