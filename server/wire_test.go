package server

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	sse "github.com/tmaxmax/go-sse"
)

// TestBothWires: one message, published over HTTP or through Hub.Publish,
// reaches a go-sse client and a coder/websocket client with the same id and
// data; on SSE the data is exactly the envelope, on WebSocket the frame is
// the envelope plus "type":"message".
func TestBothWires(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})

	// The SSE peer is go-sse's reconnecting client, as an application would
	// use it.
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=room", nil)
	assert.NoError(t, err)
	sseConn := (&sse.Client{HTTPClient: ts.srv.Client()}).NewConnection(req)
	events := make(chan sse.Event, 64)
	sseConn.SubscribeToAll(func(ev sse.Event) { events <- ev })
	connectDone := make(chan error, 1)
	go func() { connectDone <- sseConn.Connect() }()
	t.Cleanup(func() {
		cancel()
		if err := <-connectDone; !errors.Is(err, context.Canceled) {
			t.Errorf("go-sse Connect: %v", err)
		}
	})
	nextEvent := func() sse.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(waitTimeout):
			t.Fatal("go-sse: no event")
			return sse.Event{}
		}
	}
	assert.Equal(t, "first SSE event", nextEvent().Type, sseHelloEvent)

	ws := ts.openWS(t)
	sub := ws.subscribe("1", "", "room")
	assert.Equal(t, "subscribed channels", sub.Channels, []string{"room"})

	tests := []struct {
		name      string
		event     string // as published
		data      string // as published
		wantEvent string
		wantData  string // compacted
		publish   func(t *testing.T, event, data string) string
	}{
		{"POST /rt/publish", "", `{"text":"hi","n":1}`, "message", `{"text":"hi","n":1}`,
			func(t *testing.T, event, data string) string { return ts.publishHTTP(t, "room", event, data) }},
		{"Hub.Publish", "", `{"text":"hi","n":1}`, "message", `{"text":"hi","n":1}`,
			func(t *testing.T, event, data string) string { return ts.publish(t, "room", event, data) }},
		{"POST /rt/publish with an event name", "chat.typing", `true`, "chat.typing", `true`,
			func(t *testing.T, event, data string) string { return ts.publishHTTP(t, "room", event, data) }},
		{"Hub.Publish with an event name", "chat.typing", `null`, "chat.typing", `null`,
			func(t *testing.T, event, data string) string { return ts.publish(t, "room", event, data) }},
		{"whitespace and line breaks are compacted", "", "{ \"a\" :\n [1, 2,\r\n 3],\t\"s\": \"x y\\nz\" }", "message", `{"a":[1,2,3],"s":"x y\nz"}`,
			func(t *testing.T, event, data string) string { return ts.publishHTTP(t, "room", event, data) }},
		{"unicode", "", `"héllo \u2028 wörld ✓"`, "message", `"héllo \u2028 wörld ✓"`,
			func(t *testing.T, event, data string) string { return ts.publish(t, "room", event, data) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().UnixMilli()
			id := tt.publish(t, tt.event, tt.data)
			after := time.Now().UnixMilli()

			ev := nextEvent()
			assert.Equal(t, "SSE event name", ev.Type, tt.wantEvent)
			assert.Equal(t, "SSE id", ev.LastEventID, id)
			env, err := shared.DecodeEnvelope([]byte(ev.Data))
			assert.NoError(t, err)
			assert.True(t, "ts is the server's clock at publish", before <= env.TS && env.TS <= after)
			wantEnvelope := `{"id":"` + id + `","channel":"room","event":"` + tt.wantEvent + `","data":` + tt.wantData + `,"ts":` + strconv.FormatInt(env.TS, 10) + `}`
			assert.Equal(t, "SSE data is the envelope", ev.Data, wantEnvelope)

			f := ws.expect(shared.TypeMessage)
			assert.Equal(t, "WS frame", f.Raw, `{"type":"message",`+wantEnvelope[1:])
			assert.Equal(t, "WS envelope", f.Envelope(), env)
		})
	}
}

// TestWebSocketPublish: a WebSocket client publishes; every subscriber on
// both wires gets the message with the id the ack names.
func TestWebSocketPublish(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	reader := ts.openSSE(t, "channel=room", nil)
	pub := ts.openWS(t)
	pub.subscribe("s", "", "room")

	pub.send(`{"type":"publish","ref":"p1","channel":"room","event":"note","data":{"k":[1,2]}}`)
	// The in-memory broker delivers to subscribers before the ack is queued.
	msg := pub.expect(shared.TypeMessage)
	ack := pub.expect(shared.TypeAck)
	assert.Equal(t, "ack ref", ack.Ref, "p1")
	assert.Equal(t, "ack id", ack.ID, msg.ID)
	ev, env := reader.nextMessage()
	assert.Equal(t, "SSE id", env.ID, ack.ID)
	assert.Equal(t, "SSE event", ev.Type, "note")
	assert.Equal(t, "data", string(env.Data), `{"k":[1,2]}`)

	// Subscribing again to a held channel adds nothing, replays nothing
	// and reports no gap, even with an id of another epoch.
	sub := pub.subscribe("again", "6-1", "room")
	assert.Equal(t, "no new channels", sub.Channels, []string{})

	// A client ping is answered (and is the next frame); an unsubscribe
	// stops delivery.
	pub.send(`{"type":"ping","ref":"x"}`)
	assert.Equal(t, "pong ref", pub.expect("pong").Ref, "x")
	pub.send(`{"type":"unsubscribe","ref":"u","channels":["room","never-held"]}`)
	unsub := pub.expect(shared.TypeUnsubscribed)
	assert.Equal(t, "unsubscribed", unsub.Channels, []string{"room"})
	id := ts.publish(t, "room", "", `2`)
	reader.expectIDs(id)
	pub.send(`{"type":"ping","ref":"y"}`)
	assert.Equal(t, "nothing but the pong after unsubscribing", pub.expect("pong").Ref, "y")
}

// TestHealthz: 200 with the broker's head while serving.
func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	id := ts.publish(t, "c", "", `1`)
	resp, body := ts.do(t, http.MethodGet, "/rt/healthz", nil, "")
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
	assert.Equal(t, "body", string(body), `{"status":"ok","head":"`+id+`"}`+"\n")
}

// TestHelloAndHeartbeats: each stream starts with the hello (on SSE with a
// jittered retry and the streaming headers), and an idle connection gets
// heartbeats: ":ping" comments on SSE, {"type":"ping"} frames on WebSocket.
func TestHelloAndHeartbeats(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Heartbeat = 100 * time.Millisecond
	cfg.WriteTimeout = 500 * time.Millisecond
	ts := newTestServer(t, cfg, MemoryConfig{})
	const hello = `{"type":"hello","client":"ID","heartbeatMs":100,"maxFrameBytes":65536,"maxChannels":64}`
	// Each connection's hello names its own client id: 16 base64url
	// characters, never the same twice.
	seen := map[string]bool{}
	clientID := regexp.MustCompile(`"client":"([A-Za-z0-9_-]{16})"`)
	withoutID := func(t *testing.T, frame string) string {
		t.Helper()
		m := clientID.FindStringSubmatch(frame)
		assert.True(t, "client id in "+frame, m != nil)
		assert.True(t, "a new client id: "+m[1], !seen[m[1]])
		seen[m[1]] = true
		return strings.Replace(frame, m[1], "ID", 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	t.Run("sse", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?channel=idle", nil)
		assert.NoError(t, err)
		resp, err := ts.srv.Client().Do(req)
		assert.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "Content-Type", resp.Header.Get("Content-Type"), "text/event-stream")
		assert.Equal(t, "Cache-Control", resp.Header.Get("Cache-Control"), "no-store")
		assert.Equal(t, "X-Accel-Buffering", resp.Header.Get("X-Accel-Buffering"), "no")
		br := bufio.NewReader(resp.Body)
		line := func() string {
			t.Helper()
			s, err := br.ReadString('\n')
			assert.NoError(t, err)
			return strings.TrimSuffix(s, "\n")
		}
		assert.Equal(t, "hello event", line(), "event: duet.hello")
		retry, ok := strings.CutPrefix(line(), "retry: ")
		assert.True(t, "retry field", ok)
		ms, err := strconv.Atoi(retry)
		assert.NoError(t, err)
		assert.True(t, "retry jittered in [SSERetry/2, SSERetry*3/2): "+retry, ms >= 500 && ms < 1500)
		assert.Equal(t, "hello data", withoutID(t, line()), "data: "+hello)
		assert.Equal(t, "end of hello", line(), "")
		// Idle: heartbeats, and nothing else.
		for range 2 {
			assert.Equal(t, "heartbeat", line(), ":ping")
			assert.Equal(t, "end of heartbeat", line(), "")
		}
	})
	t.Run("ws", func(t *testing.T) {
		conn, _, err := ts.dialWS(t, nil)
		assert.NoError(t, err)
		defer conn.CloseNow()
		_, p, err := conn.Read(ctx)
		assert.NoError(t, err)
		assert.Equal(t, "hello", withoutID(t, string(p)), hello)
		for range 2 {
			_, p, err = conn.Read(ctx) // also answers the protocol pings
			assert.NoError(t, err)
			assert.Equal(t, "heartbeat", string(p), `{"type":"ping"}`)
		}
		conn.Close(websocket.StatusNormalClosure, "")
	})
	assert.Equal(t, "no heartbeat timeouts", ts.metrics(t)["duet_heartbeat_timeouts_total"], int64(0))
}
