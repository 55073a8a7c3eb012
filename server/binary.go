package server

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/duet-rt/duet/shared"
)

// Binary messages (PROTOCOL.md §4.6): bytes published as they are, for
// game state, media chunks and anything else that JSON would bloat. A
// WebSocket subscriber gets each one as a binary WebSocket message; an SSE
// subscriber gets the usual envelope with the bytes in base64 and
// "encoding":"base64", so a plain EventSource still works.

// A BinaryBroker is a Broker that also stores binary messages, and replays
// them as binary. MemoryBroker and natsbroker.Broker are BinaryBrokers; the
// hub refuses binary publishes over a broker that is not.
type BinaryBroker interface {
	Broker
	// PublishBinary is Publish for raw bytes: the message it returns, and
	// every replay of it, has Envelope.Binary set.
	PublishBinary(ctx context.Context, channel, event string, data []byte) (*Message, error)
}

// NewBinaryMessage is NewMessage for raw bytes: Envelope.Binary is set, the
// WebSocket encoding is a binary frame and the SSE encoding carries the
// bytes in base64.
func NewBinaryMessage(id shared.ID, channel, event string, data []byte, ts int64) *Message {
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
			Binary:  true,
		},
	}
	env := shared.AppendEnvelope(make([]byte, 0, 96+len(channel)+len(event)+len(data)*4/3), &m.Envelope)
	m.sse = encodeSSE(m.Envelope.ID, event, env)
	m.ws = shared.AppendBinaryMessage(make([]byte, 0, shared.BinaryFrameSize(&m.Envelope)), &m.Envelope)
	return m
}

// Binary reports whether m was published as bytes. Its WS encoding is then
// a binary WebSocket message, not a JSON text frame.
func (m *Message) Binary() bool { return m.Envelope.Binary }

// PublishBinary publishes data (any bytes, empty included) to channel as
// event ("" means "message") and returns the message's id once the broker
// has stored it. The hub's broker must be a BinaryBroker. The message keeps
// its own copy of data.
func (h *Hub) PublishBinary(ctx context.Context, channel, event string, data []byte) (shared.ID, error) {
	m, err := h.publishBinary(ctx, channel, event, data)
	if err != nil {
		return shared.ID{}, err
	}
	return m.ID, nil
}

func (h *Hub) publishBinary(ctx context.Context, channel, event string, data []byte) (*Message, error) {
	if err := h.checkPublish(channel, event, data); err != nil {
		return nil, err
	}
	bb, ok := h.broker.(BinaryBroker)
	if !ok {
		return nil, shared.NewError(shared.CodeBadRequest, "this server's broker does not carry binary messages")
	}
	if event == "" {
		event = shared.DefaultEvent
	}
	// Own the bytes, as publish does: data may alias a read buffer or a
	// caller's reused one.
	m, err := bb.PublishBinary(ctx, channel, event, bytes.Clone(data))
	if err != nil {
		return nil, err
	}
	h.metrics.published.Add(1)
	return m, nil
}

// publishFrame publishes a JSON publish frame: its data is JSON, or bytes
// when it came base64-encoded.
func (h *Hub) publishFrame(ctx context.Context, f *shared.Frame) (*Message, error) {
	if f.Binary {
		return h.publishBinary(ctx, f.Channel, f.Event, f.Data)
	}
	return h.publish(ctx, f.Channel, f.Event, f.Data)
}

// publishRequestData returns the data of a POST /rt/publish body: JSON, or
// with "encoding":"base64" the bytes of a base64 string.
func publishRequestData(req *publishRequest) (data []byte, binary bool, err error) {
	switch req.Encoding {
	case "":
		return req.Data, false, nil
	case shared.EncodingBase64:
		var b []byte // encoding/json reads a base64 string into []byte
		if len(req.Data) == 0 || req.Data[0] != '"' || json.Unmarshal(req.Data, &b) != nil {
			return nil, false, shared.NewError(shared.CodeBadRequest, `"data" must be a base64 string when "encoding" is "base64"`)
		}
		if b == nil {
			b = []byte{}
		}
		return b, true, nil
	}
	return nil, false, shared.NewError(shared.CodeBadRequest, "unknown encoding "+quote(req.Encoding)+`: leave it out for JSON data, or use "base64"`)
}

// handleBinary acts on a binary WebSocket message from the client: a binary
// publish, answered by a JSON ack or error frame like a JSON publish.
func (wc *wsConn) handleBinary(p []byte) {
	f, err := shared.DecodeBinaryFrame(p)
	if err != nil {
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Code: shared.CodeBadRequest, Message: err.Error()})
		return
	}
	if f.Type != shared.TypePublish {
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Code: shared.CodeBadRequest, Message: "a client may send only binary publish frames (kind 0x01)"})
		return
	}
	wc.publish(&f) // f.Binary is set: publishFrame publishes the bytes
}

// PublishBinary implements BinaryBroker.
func (b *MemoryBroker) PublishBinary(ctx context.Context, channel, event string, data []byte) (*Message, error) {
	return b.publish(ctx, channel, event, data, NewBinaryMessage)
}
