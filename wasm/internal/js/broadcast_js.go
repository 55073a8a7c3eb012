//go:build js && wasm

package js

import "errors"

// BroadcastChannel is a browser BroadcastChannel: messages to every other
// context (tab, worker, iframe) of the same origin that opened a channel of
// the same name. A context does not receive its own messages.
type BroadcastChannel struct {
	// Value is the JavaScript BroadcastChannel.
	Value Value
}

// ErrNoBroadcastChannel is returned where BroadcastChannel does not exist.
var ErrNoBroadcastChannel = errors.New("duet/js: BroadcastChannel is not available")

// NewBroadcastChannel joins the channel name.
func NewBroadcastChannel(name string) (*BroadcastChannel, error) {
	ctor := global.Get("BroadcastChannel")
	if !IsFunction(ctor) {
		return nil, ErrNoBroadcastChannel
	}
	v, err := New(ctor, name)
	if err != nil {
		return nil, err
	}
	return &BroadcastChannel{Value: v}, nil
}

// Post sends msg to the other members: a string, a []byte (sent as a
// Uint8Array), or any value ValueOf accepts or structured clone can copy.
// Posting on a closed channel is an *Error named "InvalidStateError".
func (c *BroadcastChannel) Post(msg any) error {
	_, err := Call(c.Value, "postMessage", ValueOf(msg))
	return err
}

// OnMessage calls fn with the data of each message from another member.
func (c *BroadcastChannel) OnMessage(fn func(data Value)) (remove func()) {
	return AddEventListener(c.Value, "message", func(ev Value) { fn(ev.Get("data")) }, nil)
}

// Close leaves the channel. Listeners stay registered until removed, but
// receive nothing more.
func (c *BroadcastChannel) Close() { c.Value.Call("close") }
