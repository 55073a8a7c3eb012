package natsbroker_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/duet-rt/duet/shared"
)

// TestSSEResumeDuringOutage: while a node has lost NATS, an SSE resume is
// answered 200 with a retry field and a duet.close 4003 — never a status
// a native EventSource takes as fatal — and the same request, repeated as
// an EventSource repeats it, replays the missed messages once NATS is
// back.
func TestSSEResumeDuringOutage(t *testing.T) {
	n := startNATS(t)
	link := startProxy(t, n.URL()[len("nats://"):])
	cut := newBroker(t, link.URL(), natsbroker.Config{})
	other := newBroker(t, n.URL(), natsbroker.Config{Stream: cut.Stream(), SubjectPrefix: cut.SubjectPrefix()})
	hub, err := server.NewHub(&server.Config{Broker: cut})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	first := mustPublish(t, other, "c", 0)
	missed := mustPublish(t, other, "c", 1)
	waitUntil(t, "the node to see the messages", 10*time.Second, func() bool { return cut.Head() == missed.ID })

	resume := func() (*http.Response, *bufio.Reader) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/rt/sse?channel=c", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Last-Event-ID", first.ID.String())
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp, bufio.NewReader(resp.Body)
	}

	link.setUp(false)
	waitUntil(t, "the node to notice the outage", 10*time.Second, func() bool { return cut.Healthy() != nil })
	resp, body := resume()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("resume during the outage: %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events []shared.SSEEvent
	var retry int64
	p := shared.SSEParser{OnEvent: func(ev shared.SSEEvent) { events = append(events, ev) }, OnRetry: func(ms int64) { retry = ms }}
	all, _ := io.ReadAll(body)
	if err := p.Feed(all); err != nil {
		t.Fatal(err)
	}
	if retry <= 0 || len(events) != 1 || events[0].Type != "duet.close" {
		t.Fatalf("resume during the outage: retry %d, events %+v; want a retry field and one duet.close", retry, events)
	}
	f, err := shared.DecodeFrame([]byte(events[0].Data))
	if err != nil || f.Code != shared.CodeBrokerUnavailable {
		t.Fatalf("duet.close: %+v %v, want code 4003", f, err)
	}

	link.setUp(true)
	waitUntil(t, "the node to recover", 15*time.Second, func() bool { return cut.Healthy() == nil })
	resp, body = resume()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resume after the outage: %d", resp.StatusCode)
	}
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended before the missed message: %v", err)
		}
		if strings.HasPrefix(line, "id: ") {
			if got := strings.TrimSpace(line[len("id: "):]); got != missed.ID.String() {
				t.Fatalf("replayed %s, want %s", got, missed.ID)
			}
			return
		}
	}
}
