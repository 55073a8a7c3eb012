package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
)

// sendBinary writes one binary WebSocket message.
func (c *wsClient) sendBinary(p []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	assertSuccess(c.t, c.conn.Write(ctx, websocket.MessageBinary, p))
}

// expectBinary reads a binary message frame and checks its fields.
func (c *wsClient) expectBinary(id, channel, event string, data []byte) {
	c.t.Helper()
	f := c.expect(shared.TypeMessage)
	assertTrue(c.t, "binary frame, got "+f.Raw, f.Binary)
	got := shared.Frame{Type: f.Type, ID: f.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, Binary: true}
	assertEqual(c.t, "binary message", shared.Frame{Type: shared.TypeMessage, ID: id, Channel: channel, Event: event, Data: data, Binary: true}, got)
	assertTrue(c.t, "ts set", f.TS > 0)
}

// expectBinarySSE reads an SSE message carrying bytes in base64.
func (c *sseClient) expectBinarySSE(id, channel, event string, data []byte) {
	c.t.Helper()
	ev, env := c.nextMessage()
	assertContains(c.t, "SSE data", ev.Data, `"data":"`+base64.StdEncoding.EncodeToString(data)+`","encoding":"base64"`)
	assertEqual(c.t, "SSE envelope", shared.Envelope{ID: id, Channel: channel, Event: event, Data: data, TS: env.TS, Binary: true}, env)
}

func TestBinaryPublishOverWebSocket(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	sub := ts.openWS(t)
	sub.subscribe("s", "", "game")
	sse := ts.openSSE(t, sseQuery("", "game"), nil)
	pub := ts.openWS(t)

	payload := []byte{0, 1, '\n', 0xff, '{'}
	pub.sendBinary(shared.AppendBinaryPublish(nil, "b1", "game", "move", payload))
	ack := pub.expect(shared.TypeAck)
	assertEqual(t, "ack", shared.Frame{Type: shared.TypeAck, Ref: "b1", ID: idOf(1)}, ack.Frame)

	sub.expectBinary(idOf(1), "game", "move", payload)
	sse.expectBinarySSE(idOf(1), "game", "move", payload)

	// Empty payloads are fine; the event defaults to "message".
	pub.sendBinary(shared.AppendBinaryPublish(nil, "b2", "game", "", nil))
	pub.expect(shared.TypeAck)
	sub.expectBinary(idOf(2), "game", "message", []byte{})
	sse.expectBinarySSE(idOf(2), "game", "message", []byte{})
}

func TestBinaryAndTextKeepTheirOrder(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	sub := ts.openWS(t)
	sub.subscribe("s", "", "mix")
	// Published before the subscriber reads: the writer batches them, text
	// and binary alternating, into text and binary WebSocket messages.
	ctx := context.Background()
	for i := range 10 {
		if i%3 == 0 {
			_, err := ts.hub.PublishBinary(ctx, "mix", "", []byte{byte(i)})
			assertSuccess(t, err)
		} else {
			ts.publish(t, "mix", "", `{"n":`+string(rune('0'+i))+`}`)
		}
	}
	for i := range 10 {
		f := sub.expect(shared.TypeMessage)
		assertEqual(t, "id", idOf(uint64(i+1)), f.ID)
		assertEqual(t, "binary", i%3 == 0, f.Binary)
		if f.Binary {
			assertEqual(t, "data", []byte{byte(i)}, f.Data)
		}
	}
}

func TestBinaryResumeAcrossWires(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	ctx := context.Background()
	_, err := ts.hub.PublishBinary(ctx, "r", "chunk", []byte("one"))
	assertSuccess(t, err)
	ts.publish(t, "r", "", `"two"`)
	// Published over POST /rt/publish, base64 in, binary out.
	resp, body := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader,
		`{"channel":"r","event":"chunk","data":"`+base64.StdEncoding.EncodeToString([]byte{3, 3, 3})+`","encoding":"base64"}`)
	assertEqual(t, "POST status "+string(body), http.StatusOK, resp.StatusCode)
	// And over a JSON publish frame with the same marker.
	pub := ts.openWS(t)
	pub.send(`{"type":"publish","ref":"j","channel":"r","event":"chunk","data":"BAQ=","encoding":"base64"}`)
	pub.expect(shared.TypeAck)

	check := func(name string, binary func(id string, data []byte), text func(id string)) {
		t.Run(name, func(t *testing.T) {
			binary(idOf(1), []byte("one"))
			text(idOf(2))
			binary(idOf(3), []byte{3, 3, 3})
			binary(idOf(4), []byte{4, 4})
		})
	}
	ws := ts.openWS(t)
	ws.subscribe("s", idOf(0), "r")
	check("ws replays binary as binary",
		func(id string, data []byte) { ws.expectBinary(id, "r", "chunk", data) },
		func(id string) { ws.expectIDs(id) })
	sse := ts.openSSE(t, sseQuery(idOf(0), "r"), nil)
	check("sse replays binary as base64",
		func(id string, data []byte) { sse.expectBinarySSE(id, "r", "chunk", data) },
		func(id string) { sse.expectIDs(id) })
}

func TestBinaryRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPublishBytes = 100
	cfg.MaxFrameBytes = 1000
	ts := newTestServer(t, cfg, MemoryConfig{})
	stillUsable := func(c *wsClient) {
		t.Helper()
		c.sendBinary(shared.AppendBinaryPublish(nil, "ok", "fine", "", []byte{1}))
		f := c.expect(shared.TypeAck)
		assertEqual(t, "ack ref", "ok", f.Ref)
	}
	cases := []struct {
		name  string
		frame []byte
		ref   string
		code  shared.Code
	}{
		{"malformed", []byte{0x01, 9, 'x'}, "", shared.CodeBadRequest},
		{"message kind from a client", shared.AppendBinaryMessage(nil, &shared.Envelope{ID: "1-1", Channel: "c"}), "", shared.CodeBadRequest},
		{"bad channel", shared.AppendBinaryPublish(nil, "r", "bad name", "", nil), "r", shared.CodeBadChannel},
		{"reserved event", shared.AppendBinaryPublish(nil, "r", "c", "duet.x", nil), "r", shared.CodeBadRequest},
		{"data over MaxPublishBytes", shared.AppendBinaryPublish(nil, "r", "c", "", make([]byte, 101)), "r", shared.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.openWS(t)
			c.sendBinary(tc.frame)
			c.expectError(tc.ref, tc.code)
			stillUsable(c)
		})
	}
	t.Run("frame over MaxFrameBytes", func(t *testing.T) {
		c := ts.openWS(t)
		c.sendBinary(shared.AppendBinaryPublish(nil, "r", "c", "", make([]byte, 1001)))
		code, _ := c.closeStatus(waitTimeout)
		assertEqual(t, "close code", websocket.StatusMessageTooBig, code)
	})
	t.Run("POST with a bad encoding", func(t *testing.T) {
		for _, body := range []string{
			`{"channel":"c","data":"AA==","encoding":"gzip"}`,
			`{"channel":"c","data":[1],"encoding":"base64"}`,
			`{"channel":"c","data":"!","encoding":"base64"}`,
		} {
			resp, p := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader, body)
			assertEqual(t, "status of "+body, http.StatusBadRequest, resp.StatusCode)
			assertEqual(t, "code of "+body, shared.CodeBadRequest, errorBody(t, p))
		}
		resp, p := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader,
			`{"channel":"c","data":"`+base64.StdEncoding.EncodeToString(make([]byte, 101))+`","encoding":"base64"}`)
		assertEqual(t, "status of too much data", http.StatusRequestEntityTooLarge, resp.StatusCode)
		assertEqual(t, "code of too much data", shared.CodeTooLarge, errorBody(t, p))
	})
}

// jsonOnlyBroker hides MemoryBroker's PublishBinary.
type jsonOnlyBroker struct{ Broker }

func TestBinaryNeedsABinaryBroker(t *testing.T) {
	b := NewMemoryBroker(nil)
	t.Cleanup(func() { _ = b.Close() })
	h, err := NewHub(&Config{Broker: jsonOnlyBroker{b}, Logger: quietLogger()})
	assertSuccess(t, err)
	_, err = h.PublishBinary(context.Background(), "c", "", []byte{1})
	var e *shared.Error
	assertTrue(t, "a protocol error", errors.As(err, &e))
	assertEqual(t, "code", shared.CodeBadRequest, e.Code)
	assertContains(t, "message", e.Message, "does not carry binary")
}

func TestNewBinaryMessageEncodings(t *testing.T) {
	m := NewBinaryMessage(shared.ID{Epoch: 1, Seq: 2}, "c", "", []byte{0xde, 0xad}, 7)
	assertTrue(t, "binary", m.Binary())
	f, err := shared.DecodeBinaryFrame(m.WS())
	assertSuccess(t, err)
	assertEqual(t, "ws frame", shared.Frame{Type: shared.TypeMessage, ID: "1-2", Channel: "c", Event: "message", TS: 7, Data: []byte{0xde, 0xad}, Binary: true}, f)
	want := "id: 1-2\nevent: message\ndata: {\"id\":\"1-2\",\"channel\":\"c\",\"event\":\"message\",\"data\":\"3q0=\",\"encoding\":\"base64\",\"ts\":7}\n\n"
	assertEqual(t, "sse event", want, string(m.SSE()))
	assertTrue(t, "json message is not binary", !NewMessage(shared.ID{Epoch: 1, Seq: 3}, "c", "", []byte("1"), 7).Binary())
	assertTrue(t, "no newline in SSE data", !bytes.Contains(m.SSE()[:len(m.SSE())-2], []byte("\n\n")) && strings.Count(string(m.SSE()), "\n") == 4)
}
