//go:build !js

package natsbroker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/duet-rt/duet/shared"
)

// controlNode is a hub over its own broker on a shared stream, behind an
// httptest server; requests name their user in X-User.
type controlNode struct {
	hub *server.Hub
	srv *httptest.Server
}

func newControlNode(t *testing.T, b server.Broker) *controlNode {
	t.Helper()
	hub, err := server.NewHub(&server.Config{
		Broker: b,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authenticate: func(r *http.Request) (server.Identity, error) {
			id := server.Anonymous()
			id.Subject = r.Header.Get("X-User")
			return id, nil
		},
	})
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
	return &controlNode{hub: hub, srv: srv}
}

// dial opens a WebSocket to n as user, subscribed to channel, and returns
// it with a channel of the frames it reads (closed when it ends) and its
// close code.
func (n *controlNode) dial(t *testing.T, user, channel string) (frames <-chan shared.Frame, closed func() websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.srv.URL, "http")+"/rt/ws", &websocket.DialOptions{
		Subprotocols: []string{shared.Protocol},
		HTTPHeader:   http.Header{"X-User": {user}},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = ws.CloseNow() })
	out := make(chan shared.Frame, 64)
	var code websocket.StatusCode
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for {
			_, p, err := ws.Read(ctx)
			if err != nil {
				code = websocket.CloseStatus(err)
				return
			}
			for _, line := range strings.Split(string(p), "\n") {
				if f, err := shared.DecodeFrame([]byte(line)); err == nil && f.Type != shared.TypePing {
					out <- f
				}
			}
		}
	}()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","ref":"s","channels":["`+channel+`"]}`))
	for f := range out {
		if f.Type == shared.TypeSubscribed {
			break
		}
	}
	return out, func() websocket.StatusCode { <-done; return code }
}

// TestControlAcrossNodes: a disconnect and an unsubscribe issued on one
// node reach the connections of another over NATS, within a bounded time.
func TestControlAcrossNodes(t *testing.T) {
	n := startNATS(t)
	first := newBroker(t, n.URL(), natsbroker.Config{})
	a := newControlNode(t, first)
	b := newControlNode(t, newBroker(t, n.URL(), natsbroker.Config{Stream: first.Stream(), SubjectPrefix: first.SubjectPrefix()}))

	const bound = 5 * time.Second

	t.Run("disconnect", func(t *testing.T) {
		_, closed := b.dial(t, "alice", "room")
		_, bobClosed := b.dial(t, "bob", "room")
		start := time.Now()
		nLocal, err := a.hub.DisconnectClients(context.Background(), server.Target{User: "alice"}, server.Disconnect{Code: shared.CodeRevoked, Reason: "revoked"})
		if err != nil || nLocal != 0 {
			t.Fatalf("DisconnectClients on node a: %d, %v", nLocal, err)
		}
		got := make(chan websocket.StatusCode, 1)
		go func() { got <- closed() }()
		select {
		case code := <-got:
			if shared.Code(code) != shared.CodeRevoked {
				t.Fatalf("alice's connection on node b closed with %d, want %d", code, shared.CodeRevoked)
			}
			t.Logf("disconnect reached node b in %v (noisy: shared machine)", time.Since(start))
		case <-time.After(bound):
			t.Fatalf("alice's connection on node b still open after %v", bound)
		}
		bob := make(chan websocket.StatusCode, 1)
		go func() { bob <- bobClosed() }()
		select {
		case code := <-bob:
			t.Fatalf("bob's connection closed too (%d)", code)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("unsubscribe", func(t *testing.T) {
		frames, _ := b.dial(t, "carol", "news")
		start := time.Now()
		if _, err := a.hub.UnsubscribeClients(context.Background(), server.Target{User: "carol"}, "news"); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(bound)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatal("carol's connection ended")
				}
				if f.Type == shared.TypeUnsubscribed && len(f.Channels) == 1 && f.Channels[0] == "news" {
					t.Logf("unsubscribe reached node b in %v (noisy: shared machine)", time.Since(start))
					// And news no longer reaches carol.
					if _, err := a.hub.Publish(context.Background(), "news", "", []byte(`1`)); err != nil {
						t.Fatal(err)
					}
					select {
					case f := <-frames:
						t.Fatalf("carol still got %+v", f)
					case <-time.After(500 * time.Millisecond):
					}
					return
				}
			case <-deadline:
				t.Fatalf("no unsubscribed frame on node b within %v", bound)
			}
		}
	})
}
