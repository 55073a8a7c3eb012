package server

import (
	"bytes"
	"strings"
	"sync"

	"github.com/duet-rt/duet/shared"
	sse "github.com/tmaxmax/go-sse"
)

// Message is a published message as the hub holds it: the envelope, plus
// its two wire encodings, built once at publish time and shared read-only by
// every subscriber (fan-out to N subscribers encodes nothing N times).
type Message struct {
	ID       shared.ID
	Envelope shared.Envelope

	// sse is the complete SSE event: "id: …\nevent: …\ndata: <envelope>\n\n".
	sse []byte
	// ws is the WebSocket "message" frame, without a trailing newline.
	ws []byte
}

// envelopeBufs pools the scratch buffers NewMessage encodes envelopes into.
var envelopeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// wsMessagePrefix is what a message frame has before the envelope's fields:
// the frame is the envelope with its type in front.
const wsMessagePrefix = `{"type":"message",`

// newMessage is a Message without its encodings; event "" is "message".
func newMessage(id shared.ID, channel, event string, data []byte, ts int64, binary bool) *Message {
	if event == "" {
		event = shared.DefaultEvent
	}
	return &Message{
		ID: id,
		Envelope: shared.Envelope{
			ID:      id.String(),
			Channel: channel,
			Event:   event,
			Data:    data,
			TS:      ts,
			Binary:  binary,
		},
	}
}

// NewMessage builds a Message and its encodings. data must be valid JSON
// (brokers receive it from the hub, which validates it). Both encodings share
// one allocation of exactly their size: a message costs three allocations
// (the Message, its id string, the encodings) whatever its size.
func NewMessage(id shared.ID, channel, event string, data []byte, ts int64) *Message {
	m := newMessage(id, channel, event, data, ts, false)
	event = m.Envelope.Event
	bp := envelopeBufs.Get().(*[]byte)
	env := shared.AppendEnvelope((*bp)[:0], &m.Envelope)

	// The SSE event is written by hand: compact JSON has no line breaks, and
	// ids and event names cannot hold one (ValidateEvent), so "data:" is one
	// line. Anything else (a caller's invalid JSON) goes through go-sse,
	// which splits lines safely.
	sseLen := len("id: \nevent: \ndata: \n\n") + len(m.Envelope.ID) + len(event) + len(env)
	if m.Envelope.ID == "" {
		sseLen -= len("id: \n")
	}
	wsLen := len(wsMessagePrefix) + len(env) - 1
	out := make([]byte, 0, sseLen+wsLen)
	if bytes.ContainsAny(env, "\r\n") || strings.ContainsAny(event, "\r\n") {
		out = append(out, encodeSSE(m.Envelope.ID, event, env)...)
	} else {
		if m.Envelope.ID != "" {
			out = append(out, "id: "...)
			out = append(out, m.Envelope.ID...)
			out = append(out, '\n')
		}
		out = append(out, "event: "...)
		out = append(out, event...)
		out = append(out, "\ndata: "...)
		out = append(out, env...)
		out = append(out, "\n\n"...)
	}
	m.sse = out[:len(out):len(out)]
	out = append(out, wsMessagePrefix...)
	out = append(out, env[1:]...)
	m.ws = out[len(m.sse):]

	if cap(env) <= 256<<10 { // keep the default MaxPublishBytes, drop outliers
		*bp = env[:0]
		envelopeBufs.Put(bp)
	}
	return m
}

// NewBinaryMessage is NewMessage for raw bytes (PROTOCOL.md §4.6: game
// state, media chunks, anything JSON would bloat): Envelope.Binary is set, the
// WebSocket encoding is a binary frame and the SSE encoding carries the
// bytes in base64.
func NewBinaryMessage(id shared.ID, channel, event string, data []byte, ts int64) *Message {
	m := newMessage(id, channel, event, data, ts, true)
	event = m.Envelope.Event
	env := shared.AppendEnvelope(make([]byte, 0, 96+len(channel)+len(event)+len(data)*4/3), &m.Envelope)
	m.sse = encodeSSE(m.Envelope.ID, event, env)
	m.ws = shared.AppendBinaryMessage(make([]byte, 0, shared.BinaryFrameSize(&m.Envelope)), &m.Envelope)
	return m
}

// Binary reports whether m was published as bytes. Its WS encoding is then
// a binary WebSocket message, not a JSON text frame.
func (m *Message) Binary() bool { return m.Envelope.Binary }

// encodeSSE formats one SSE event with go-sse, which guarantees a well-formed
// stream (no stray line breaks in fields).
func encodeSSE(id, event string, data []byte) []byte {
	msg := &sse.Message{}
	if id != "" {
		msg.ID = sse.ID(id)
	}
	msg.Type = sse.Type(event)
	msg.AppendData(string(data))
	b, _ := msg.MarshalText() // cannot fail: writes to a buffer
	return b
}

// SSE returns the message's SSE encoding. The caller must not modify it.
func (m *Message) SSE() []byte { return m.sse }

// WS returns the message's WebSocket frame. The caller must not modify it.
func (m *Message) WS() []byte { return m.ws }
