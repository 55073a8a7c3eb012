package server

import (
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

// NewMessage builds a Message and its encodings. data must be valid JSON
// (brokers receive it from the hub, which validates it).
func NewMessage(id shared.ID, channel, event string, data []byte, ts int64) *Message {
	if event == "" {
		event = shared.DefaultEvent
	}
	m := &Message{
		ID: id,
		Envelope: shared.Envelope{
			ID:      id.String(),
			Channel: channel,
			Event:   event,
			Data:    data,
			TS:      ts,
		},
	}
	env := shared.AppendEnvelope(make([]byte, 0, 64+len(channel)+len(event)+len(data)), &m.Envelope)
	m.sse = encodeSSE(m.Envelope.ID, event, env)
	f := shared.MessageFrame(&m.Envelope)
	m.ws = shared.AppendFrame(make([]byte, 0, len(env)+20), &f)
	return m
}

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
