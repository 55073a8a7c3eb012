package transport

import "github.com/duet-rt/duet/shared"

// Binary messages (PROTOCOL.md §1.3, §4.6): a Conn publishes bytes as a
// binary WebSocket frame, or on SSE as a POST with base64 data; it receives
// them as binary frames on WebSocket and as base64 envelopes on SSE, and
// hands both to the Observer as an Envelope with Binary set.

// PublishBinary publishes data, raw bytes, like [Conn.Publish]. The Conn
// keeps data until done is called; the caller must not modify it.
func (c *Conn) PublishBinary(channel, event string, data []byte, done func(id string, err error)) {
	c.publish(channel, event, data, true, done)
}

// PublishBinary publishes data, raw bytes, like [Client.Publish].
func (cl *Client) PublishBinary(channel, event string, data []byte, done func(id string, err error)) {
	cl.publish(channel, event, data, true, done)
}

// ReceivedBinary implements WireEvents.
func (a *attempt) ReceivedBinary(p []byte) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.kind != KindWebSocket {
		return
	}
	a.lastRecv = c.clk.Now()
	f, err := shared.DecodeBinaryFrame(p)
	if err != nil {
		c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable binary frame from the server: "+err.Error()))
		return
	}
	if f.Type != shared.TypeMessage {
		c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: the server sent a binary frame that is not a message"))
		return
	}
	c.frameLocked(a, &f)
}
