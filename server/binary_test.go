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
	"github.com/duet-rt/duet/shared/assert"
)

// sendBinary writes one binary WebSocket message.
func (c *wsClient) sendBinary(p []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	assert.NoError(c.t, c.conn.Write(ctx, websocket.MessageBinary, p))
}

// expectBinary reads a binary message frame and checks its fields.
func (c *wsClient) expectBinary(id, channel, event string, data []byte) {
	c.t.Helper()
	f := c.expect(shared.TypeMessage)
	assert.True(c.t, "binary frame, got "+f.Raw, f.Binary)
	got := shared.Frame{Type: f.Type, ID: f.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, Binary: true}
	assert.Equal(c.t, "binary message", got, shared.Frame{Type: shared.TypeMessage, ID: id, Channel: channel, Event: event, Data: data, Binary: true})
	assert.True(c.t, "ts set", f.TS > 0)
}

// expectBinarySSE reads an SSE message carrying bytes in base64.
func (c *sseClient) expectBinarySSE(id, channel, event string, data []byte) {
	c.t.Helper()
	ev, env := c.nextMessage()
	assert.Contains(c.t, "SSE data", ev.Data, `"data":"`+base64.StdEncoding.EncodeToString(data)+`","encoding":"base64"`)
	assert.Equal(c.t, "SSE envelope", env, shared.Envelope{ID: id, Channel: channel, Event: event, Data: data, TS: env.TS, Binary: true})
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
	assert.Equal(t, "ack", ack.Frame, shared.Frame{Type: shared.TypeAck, Ref: "b1", ID: idOf(1)})

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
			assert.NoError(t, err)
		} else {
			ts.publish(t, "mix", "", `{"n":`+string(rune('0'+i))+`}`)
		}
	}
	for i := range 10 {
		f := sub.expect(shared.TypeMessage)
		assert.Equal(t, "id", f.ID, idOf(uint64(i+1)))
		assert.Equal(t, "binary", f.Binary, i%3 == 0)
		if f.Binary {
			assert.Equal(t, "data", f.Data, []byte{byte(i)})
		}
	}
}

func TestBinaryResumeAcrossWires(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	ctx := context.Background()
	_, err := ts.hub.PublishBinary(ctx, "r", "chunk", []byte("one"))
	assert.NoError(t, err)
	ts.publish(t, "r", "", `"two"`)
	// Published over POST /rt/publish, base64 in, binary out.
	resp, body := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader,
		`{"channel":"r","event":"chunk","data":"`+base64.StdEncoding.EncodeToString([]byte{3, 3, 3})+`","encoding":"base64"}`)
	assert.Equal(t, "POST status "+string(body), resp.StatusCode, http.StatusOK)
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
		assert.Equal(t, "ack ref", f.Ref, "ok")
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
		assert.Equal(t, "close code", code, websocket.StatusMessageTooBig)
	})
	t.Run("POST with a bad encoding", func(t *testing.T) {
		for _, body := range []string{
			`{"channel":"c","data":"AA==","encoding":"gzip"}`,
			`{"channel":"c","data":[1],"encoding":"base64"}`,
			`{"channel":"c","data":"!","encoding":"base64"}`,
		} {
			resp, p := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader, body)
			assert.Equal(t, "status of "+body, resp.StatusCode, http.StatusBadRequest)
			assert.Equal(t, "code of "+body, errorBody(t, p), shared.CodeBadRequest)
		}
		resp, p := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader,
			`{"channel":"c","data":"`+base64.StdEncoding.EncodeToString(make([]byte, 101))+`","encoding":"base64"}`)
		assert.Equal(t, "status of too much data", resp.StatusCode, http.StatusRequestEntityTooLarge)
		assert.Equal(t, "code of too much data", errorBody(t, p), shared.CodeTooLarge)
	})
}

// jsonOnlyBroker hides MemoryBroker's PublishBinary.
type jsonOnlyBroker struct{ Broker }

func TestBinaryNeedsABinaryBroker(t *testing.T) {
	b := NewMemoryBroker(nil)
	t.Cleanup(func() { _ = b.Close() })
	h, err := NewHub(&Config{Broker: jsonOnlyBroker{b}, Logger: quietLogger()})
	assert.NoError(t, err)
	_, err = h.PublishBinary(context.Background(), "c", "", []byte{1})
	var e *shared.Error
	assert.True(t, "a protocol error", errors.As(err, &e))
	assert.Equal(t, "code", e.Code, shared.CodeBadRequest)
	assert.Contains(t, "message", e.Message, "does not carry binary")
}

func TestNewBinaryMessageEncodings(t *testing.T) {
	m := NewBinaryMessage(shared.ID{Epoch: 1, Seq: 2}, "c", "", []byte{0xde, 0xad}, 7)
	assert.True(t, "binary", m.Binary())
	f, err := shared.DecodeBinaryFrame(m.WS())
	assert.NoError(t, err)
	assert.Equal(t, "ws frame", f, shared.Frame{Type: shared.TypeMessage, ID: "1-2", Channel: "c", Event: "message", TS: 7, Data: []byte{0xde, 0xad}, Binary: true})
	want := "id: 1-2\nevent: message\ndata: {\"id\":\"1-2\",\"channel\":\"c\",\"event\":\"message\",\"data\":\"3q0=\",\"encoding\":\"base64\",\"ts\":7}\n\n"
	assert.Equal(t, "sse event", string(m.SSE()), want)
	assert.True(t, "json message is not binary", !NewMessage(shared.ID{Epoch: 1, Seq: 3}, "c", "", []byte("1"), 7).Binary())
	assert.True(t, "no newline in SSE data", !bytes.Contains(m.SSE()[:len(m.SSE())-2], []byte("\n\n")) && strings.Count(string(m.SSE()), "\n") == 4)
}
