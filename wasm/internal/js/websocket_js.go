//go:build js && wasm

package js

import (
	"context"
	"errors"
	"strconv"
)

// WebSocket is a browser WebSocket. Its binaryType is "arraybuffer", so
// binary messages arrive as bytes. Events reach Go through the On* methods;
// each returns a remove func. Every method may be called from a callback.
type WebSocket struct {
	// Value is the JavaScript WebSocket.
	Value Value
}

// WebSocket ready states.
const (
	WebSocketConnecting = 0
	WebSocketOpen       = 1
	WebSocketClosing    = 2
	WebSocketClosed     = 3
)

// Message is one WebSocket message.
type Message struct {
	// Binary is true for a binary message, false for a text one.
	Binary bool
	// Data is the payload: the UTF-8 text, or the bytes.
	Data []byte
}

// CloseEvent is how a WebSocket closed.
type CloseEvent struct {
	// Code is the close code: the peer's, or 1006 when the connection
	// dropped without a close frame, or 1005 when the frame had none.
	Code int
	// Reason is the close frame's reason.
	Reason string
	// WasClean reports whether the closing handshake completed.
	WasClean bool
}

// CloseError is the error for a WebSocket that closed: DialWebSocket returns
// it when the socket closes before opening.
type CloseError struct {
	CloseEvent
}

func (e *CloseError) Error() string {
	s := "duet/js: websocket closed with code " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ErrNoWebSocket is returned where the runtime has no WebSocket (Node 20).
var ErrNoWebSocket = errors.New("duet/js: WebSocket is not available")

// NewWebSocket starts connecting to url (ws:, wss:, or, in recent browsers,
// http(s): and relative URLs) offering the subprotocols. It returns at
// once; the socket opens or closes later. An invalid URL or protocol list is
// an *Error named "SyntaxError".
func NewWebSocket(url string, protocols ...string) (*WebSocket, error) {
	ctor := global.Get("WebSocket")
	if !IsFunction(ctor) {
		return nil, ErrNoWebSocket
	}
	ps := make([]any, len(protocols))
	for i, p := range protocols {
		ps[i] = p
	}
	v, err := New(ctor, url, ps)
	if err != nil {
		err.(*Error).Op = "WebSocket"
		return nil, err
	}
	v.Set("binaryType", "arraybuffer")
	return &WebSocket{Value: v}, nil
}

// DialWebSocket connects to url and waits until the socket is open. When it
// closes first, the error is a *CloseError. Ending ctx while waiting closes
// the socket and returns ctx.Err().
//
// DialWebSocket blocks: call it from a goroutine.
func DialWebSocket(ctx context.Context, url string, protocols ...string) (*WebSocket, error) {
	ws, err := NewWebSocket(url, protocols...)
	if err != nil {
		return nil, err
	}
	ev, err := WaitEvent(ctx, ws.Value, "open", "close")
	if err != nil {
		ws.Close(1000, "")
		return nil, err
	}
	if ev.Get("type").String() == "close" {
		return nil, &CloseError{closeEvent(ev)}
	}
	return ws, nil
}

// OnOpen calls fn when the socket opens.
func (ws *WebSocket) OnOpen(fn func()) (remove func()) {
	return AddEventListener(ws.Value, "open", func(Value) { fn() }, nil)
}

// OnMessage calls fn for each message.
func (ws *WebSocket) OnMessage(fn func(Message)) (remove func()) {
	return AddEventListener(ws.Value, "message", func(ev Value) {
		data := ev.Get("data")
		if data.Type() == TypeString {
			fn(Message{Data: []byte(data.String())})
			return
		}
		fn(Message{Binary: true, Data: Bytes(data)})
	}, nil)
}

// OnClose calls fn when the socket has closed.
func (ws *WebSocket) OnClose(fn func(CloseEvent)) (remove func()) {
	return AddEventListener(ws.Value, "close", func(ev Value) { fn(closeEvent(ev)) }, nil)
}

// OnError calls fn when the socket fails. Browsers say nothing about why;
// a close event always follows.
func (ws *WebSocket) OnError(fn func()) (remove func()) {
	return AddEventListener(ws.Value, "error", func(Value) { fn() }, nil)
}

func closeEvent(ev Value) CloseEvent {
	return CloseEvent{
		Code:     ev.Get("code").Int(),
		Reason:   ev.Get("reason").String(),
		WasClean: ev.Get("wasClean").Bool(),
	}
}

// SendText sends a text message. Sending on a socket that is not open is
// an *Error named "InvalidStateError" while connecting, and silently
// dropped by the browser once closing.
func (ws *WebSocket) SendText(s string) error {
	_, err := Call(ws.Value, "send", s)
	return err
}

// SendBinary sends a binary message with a copy of b.
func (ws *WebSocket) SendBinary(b []byte) error {
	_, err := Call(ws.Value, "send", Uint8Array(b))
	return err
}

// Close starts the closing handshake with code (1000, or 3000–4999) and
// reason (at most 123 bytes of UTF-8). Code 0 sends no code. Closing a
// closed socket does nothing.
func (ws *WebSocket) Close(code int, reason string) error {
	var err error
	if code == 0 {
		_, err = Call(ws.Value, "close")
	} else {
		_, err = Call(ws.Value, "close", code, reason)
	}
	return err
}

// ReadyState returns one of the WebSocket* ready states.
func (ws *WebSocket) ReadyState() int { return ws.Value.Get("readyState").Int() }

// Protocol returns the subprotocol the server chose, "" before opening or
// when it chose none.
func (ws *WebSocket) Protocol() string { return ws.Value.Get("protocol").String() }

// BufferedAmount returns the bytes queued by SendText and SendBinary but not
// yet sent: a measure of backpressure.
func (ws *WebSocket) BufferedAmount() int { return ws.Value.Get("bufferedAmount").Int() }

// URL returns the socket's resolved URL.
func (ws *WebSocket) URL() string { return ws.Value.Get("url").String() }
