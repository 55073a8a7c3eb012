package transport

import (
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// binMsg sends a binary message on the wire, in the wire's format: a binary
// frame on WebSocket, a base64 envelope on SSE.
func (w *fakeWire) binMsg(id, channel, data string) {
	e := shared.Envelope{ID: id, Channel: channel, Event: "message", Data: []byte(data), TS: 1, Binary: true}
	if w.kind == KindSSE {
		w.recv("id: " + id + "\nevent: message\ndata: " + string(shared.AppendEnvelope(nil, &e)) + "\n\n")
		return
	}
	w.ev.ReceivedBinary(shared.AppendBinaryMessage(nil, &e))
}

func TestConnBinaryWebSocket(t *testing.T) {
	h := newHarness(t, Options{Channels: []string{"g"}})
	w := h.d.last(KindWebSocket)
	w.hello(15000)
	w.frames()
	h.events("state open websocket")

	// Received: binary and text messages in one id order, deduplicated
	// together.
	w.binMsg("1-1", "g", "\x00ab")
	w.msg("1-2", "g", "2")
	w.binMsg("1-2", "g", "dup")
	w.binMsg("1-3", "g", "")
	h.events("msg g 1-1 binary \x00ab", "msg g 1-2 2", "msg g 1-3 binary ")

	// Published as a binary frame, acknowledged by a JSON ack.
	var p published
	h.c.PublishBinary("g", "move", []byte{1, 2, 0xff}, p.cb)
	sent := w.frames()
	assert.Equal(t, "frames", len(sent), 1)
	f := sent[0]
	assert.Equal(t, "binary publish", shared.Frame{Type: f.Type, Channel: f.Channel, Event: f.Event, Data: f.Data, Binary: f.Binary},
		shared.Frame{Type: shared.TypePublish, Channel: "g", Event: "move", Data: []byte{1, 2, 0xff}, Binary: true})

	assert.True(t, "ref", f.Ref != "")
	w.recv(`{"type":"ack","ref":"` + f.Ref + `","id":"1-4"}`)
	id, err := p.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-4")

	// Over the server's frame limit: refused before sending.
	w.recv(`{"type":"hello","heartbeatMs":15000,"maxFrameBytes":10}`)
	var big published
	h.c.PublishBinary("g", "", make([]byte, 10), big.cb)
	_, err = big.result(t)
	errCode(t, err, shared.CodeTooLarge)
	assert.Equal(t, "nothing sent", len(w.frames()), 0)

	// A bad binary frame is reported; the connection goes on.
	w.ev.ReceivedBinary([]byte{0x02, 9})
	w.ev.ReceivedBinary(shared.AppendBinaryPublish(nil, "r", "g", "", nil))
	h.events("error 4400", "error 4400")
	w.binMsg("1-5", "g", "x")
	h.events("msg g 1-5 binary x")
}

func TestConnBinarySSE(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"g"}})
	w := h.d.last(KindSSE)
	w.hello(15000)
	h.events("state open sse")
	w.binMsg("1-1", "g", "\x01\x02")
	h.events("msg g 1-1 binary \x01\x02")

	// On SSE a binary publish is a POST with base64 data.
	var p published
	h.c.PublishBinary("g", "move", []byte{0, 0xff}, p.cb)
	post := h.d.lastPost()
	assert.Equal(t, "body", post.body, `{"channel":"g","event":"move","data":"AP8=","encoding":"base64"}`)
	post.done(200, []byte(`{"id":"1-2"}`), nil)
	id, err := p.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-2")

	// Binary data is never checked as JSON, and empty stays empty.
	var empty published
	h.c.PublishBinary("g", "", nil, empty.cb)
	assert.Equal(t, "empty body", h.d.lastPost().body, `{"channel":"g","data":"","encoding":"base64"}`)
	var bad published
	h.c.PublishBinary("bad name", "", nil, bad.cb)
	_, err = bad.result(t)
	errCode(t, err, shared.CodeBadChannel)
}

func TestClientBinaryShared(t *testing.T) {
	b := newBrowser(t)
	A := b.open("A", "g")
	B := b.open("B", "g")
	b.flush()
	A.cl.Lead()
	b.flush()
	w := b.d.last(KindWebSocket)
	w.hello(15000)
	b.flush()
	w.frames()
	A.events("state open websocket")
	B.events("state open websocket")

	// The leader relays binary messages over the bus as binary.
	w.binMsg("1-1", "g", "\x00\xffz")
	b.flush()
	A.messages("msg g 1-1 binary \x00\xffz")
	B.messages("msg g 1-1 binary \x00\xffz")

	// A follower's binary publish goes out as a binary frame.
	var p published
	B.cl.PublishBinary("g", "move", []byte{7, 0, 7}, p.cb)
	b.flush()
	fr := w.frames()
	assert.Equal(t, "frames", len(fr), 1)
	assert.Equal(t, "relayed", []any{fr[0].Type, fr[0].Binary, fr[0].Event, fr[0].Data}, []any{"publish", true, "move", []byte{7, 0, 7}})
	w.recv(`{"type":"ack","ref":"` + fr[0].Ref + `","id":"1-2"}`)
	b.flush()
	id, err := p.result(t)
	assert.NoError(t, err)
	assert.Equal(t, "id", id, "1-2")
}
