//go:build js && wasm

package jsbind

import (
	"syscall/js"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// publishBinary(channel, bytes, {event}?) → Promise<{id}>. bytes is a
// Uint8Array, another ArrayBuffer view or an ArrayBuffer; it is copied once
// into Go, so the caller may reuse it at once.
func (c *conn) jsPublishBinary(args []js.Value) any {
	return c.publishCall("publishBinary", "bytes", args, func(data js.Value) ([]byte, js.Value) {
		b := jsw.Bytes(data)
		if b == nil {
			return nil, jsw.NewTypeError("duet: publishBinary(channel, bytes): bytes must be a Uint8Array, an ArrayBuffer view or an ArrayBuffer")
		}
		return b, js.Undefined()
	}, c.cl.PublishBinary)
}

// binaryMessage is the message object of a binary message: data is a
// Uint8Array (one copy out of Go memory) and binary is true.
func binaryMessage(e *shared.Envelope) js.Value {
	msg := jsw.NewObject()
	msg.Set("id", e.ID)
	msg.Set("channel", e.Channel)
	msg.Set("event", e.Event)
	msg.Set("data", jsw.Uint8Array(e.Data))
	msg.Set("ts", float64(e.TS))
	msg.Set("binary", true)
	return msg
}
