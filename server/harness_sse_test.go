package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	sse "github.com/tmaxmax/go-sse"
)

// The test harness's SSE client.

// sseClient reads one SSE stream with go-sse's parser (sse.Read) and hands
// the events over a channel.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	events chan sse.Event
	done   chan struct{}
	err    error // how the stream ended (nil on EOF); read after done
}

// startSSE opens GET /rt/sse?query and fails unless the server streams.
func (ts *testServer) startSSE(t testing.TB, client *http.Client, query string, header http.Header) *sseClient {
	t.Helper()
	if client == nil {
		client = ts.srv.Client()
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?"+query, nil)
	assert.NoError(t, err)
	maps(req.Header, header)
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE request: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("SSE status %d: %s", resp.StatusCode, body)
	}
	assert.Equal(t, "Content-Type", resp.Header.Get("Content-Type"), "text/event-stream")
	c := &sseClient{t: t, resp: resp, cancel: cancel, events: make(chan sse.Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 4 << 20}) {
			if err != nil {
				c.err = err
				return
			}
			select {
			case c.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func maps(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// openSSE is startSSE plus the hello event every stream starts with (sent
// once the subscription is in place).
func (ts *testServer) openSSE(t testing.TB, query string, header http.Header) *sseClient {
	t.Helper()
	c := ts.startSSE(t, nil, query, header)
	c.expectHello()
	return c
}

func (c *sseClient) expectHello() {
	c.t.Helper()
	ev := c.next()
	assert.Equal(c.t, "first event", ev.Type, sseHelloEvent)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "hello type", f.Type, shared.TypeHello)
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
	c.resp.Body.Close()
}

// nextWithin returns the next event, or false when the stream has ended.
func (c *sseClient) nextWithin(d time.Duration) (sse.Event, bool) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev := <-c.events:
		return ev, true
	case <-c.done:
		// The reader sends every event before it closes done.
		select {
		case ev := <-c.events:
			return ev, true
		default:
			return sse.Event{}, false
		}
	case <-timer.C:
		c.t.Fatalf("SSE: no event within %v", d)
		return sse.Event{}, false
	}
}

func (c *sseClient) next() sse.Event {
	c.t.Helper()
	ev, ok := c.nextWithin(waitTimeout)
	if !ok {
		c.t.Fatalf("SSE: stream ended (%v), expected an event", c.err)
	}
	return ev
}

// nextMessage returns the next event, which must be a message, decoded.
func (c *sseClient) nextMessage() (sse.Event, shared.Envelope) {
	c.t.Helper()
	ev := c.next()
	if strings.HasPrefix(ev.Type, shared.ReservedEventPrefix) {
		c.t.Fatalf("SSE: expected a message, got %s %s", ev.Type, ev.Data)
	}
	env, err := shared.DecodeEnvelope([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "SSE event name is the envelope's", ev.Type, env.Event)
	assert.Equal(c.t, "SSE id is the envelope's", ev.LastEventID, env.ID)
	return ev, env
}

// expectIDs reads messages and checks their ids are exactly want, in order.
func (c *sseClient) expectIDs(want ...string) {
	c.t.Helper()
	for i, id := range want {
		_, env := c.nextMessage()
		assert.Equal(c.t, "SSE message "+strconv.Itoa(i)+" id", env.ID, id)
	}
}

// expectGap reads a duet.gap event: the client now stands at at.
func (c *sseClient) expectGap(channels []string, from, at, reason string) {
	c.t.Helper()
	ev := c.next()
	assert.Equal(c.t, "SSE event", ev.Type, sseGapEvent)
	assert.Equal(c.t, "gap event id (the resume position)", ev.LastEventID, at)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "gap frame", f, shared.Frame{Type: shared.TypeGap, Channels: channels, LastEventID: from, ID: at, Reason: reason})
}

// end waits for the stream to end and returns the events left unread.
func (c *sseClient) end(within time.Duration) []sse.Event {
	c.t.Helper()
	var rest []sse.Event
	deadline := time.Now().Add(within)
	for {
		ev, ok := c.nextWithin(time.Until(deadline))
		if !ok {
			return rest
		}
		rest = append(rest, ev)
	}
}
