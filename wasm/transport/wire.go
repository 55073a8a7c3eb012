package transport

import (
	"errors"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Kind is a wire: the protocol a connection runs over.
type Kind uint8

const (
	// KindNone: no wire yet.
	KindNone Kind = iota
	// KindWebSocket: GET /rt/ws, frames both ways.
	KindWebSocket
	// KindSSE: GET /rt/sse for messages, POST /rt/publish to publish.
	KindSSE
)

// String returns the name JavaScript sees: "websocket", "sse" or "".
func (k Kind) String() string {
	switch k {
	case KindWebSocket:
		return "websocket"
	case KindSSE:
		return "sse"
	}
	return ""
}

func parseKind(s string) Kind {
	switch s {
	case "websocket":
		return KindWebSocket
	case "sse":
		return KindSSE
	}
	return KindNone
}

// Mode is which wires a connection may use.
type Mode uint8

const (
	// ModeAuto tries WebSocket first and falls back to SSE when WebSocket
	// cannot open (a proxy that refuses the upgrade); it tries WebSocket
	// again later.
	ModeAuto Mode = iota
	// ModeWebSocket uses WebSocket only.
	ModeWebSocket
	// ModeSSE uses SSE (and HTTP POST to publish) only.
	ModeSSE
)

// ParseMode parses "auto" (or ""), "websocket" or "sse".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "websocket":
		return ModeWebSocket, nil
	case "sse":
		return ModeSSE, nil
	}
	return 0, errors.New(`duet/transport: transport must be "auto", "websocket" or "sse", not "` + s + `"`)
}

// State is where a connection stands.
type State uint8

const (
	// StateConnecting: not yet connected since the start.
	StateConnecting State = iota
	// StateOpen: connected; messages flow.
	StateOpen
	// StateReconnecting: the connection dropped; waiting or dialing again.
	StateReconnecting
	// StateClosed: closed by the application or stopped by a close code
	// whose action is stop. Final.
	StateClosed
)

// String returns the name JavaScript sees.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateOpen:
		return "open"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

func parseState(s string) State {
	switch s {
	case "open":
		return StateOpen
	case "reconnecting":
		return StateReconnecting
	case "closed":
		return StateClosed
	}
	return StateConnecting
}

// Wire is one connection attempt over one wire, as opened by a [Dialer].
type Wire interface {
	// Send sends one WebSocket text message. SSE wires never get Send.
	Send(p []byte) error
	// SendBinary sends one WebSocket binary message (a binary publish
	// frame). SSE wires never get SendBinary.
	SendBinary(p []byte) error
	// Close ends the wire: a WebSocket close with code and reason, or the
	// abort of an SSE request. After Close the wire reports nothing more.
	Close(code shared.Code, reason string)
}

// WireEvents is how a wire reports to the [Conn] that dialed it. Events of a
// wire the Conn has given up on are ignored, so a late event is harmless.
// The methods must not be called from inside Dial or Wire.Close.
type WireEvents interface {
	// Opened: the WebSocket opened, or the SSE response came with status
	// 200 and a text/event-stream body.
	Opened()
	// Received: one WebSocket text message, or the next chunk of the SSE
	// body. The Conn keeps p; the caller must not reuse it.
	Received(p []byte)
	// ReceivedBinary: one WebSocket binary message (PROTOCOL.md §4.6). The
	// Conn keeps p; the caller must not reuse it.
	ReceivedBinary(p []byte)
	// Closed: the wire ended. For a WebSocket, the close code (1006 when it
	// dropped or never opened); for SSE, [CodeOfHTTP] for a refusal, or 1006
	// for a network error or the end of the body.
	Closed(code shared.Code, reason string)
}

// Dialer opens wires and makes the HTTP requests of a [Conn]. It owns the
// credentials (headers, query parameters) they carry.
type Dialer interface {
	// DialWebSocket starts opening a WebSocket to url with subprotocol
	// [shared.Protocol] and returns at once; the outcome comes through ev.
	// It may return nil after reporting ev.Closed.
	DialWebSocket(url string, ev WireEvents) Wire
	// DialSSE starts GET url (a text/event-stream) and returns at once; the
	// outcome comes through ev. It may return nil after reporting ev.Closed.
	DialSSE(url string, ev WireEvents) Wire
	// Post sends body (JSON) to url, with an Idempotency-Key header when
	// idempotencyKey is not empty, and calls done once with the status and
	// body of the response, or with the network error.
	Post(url string, body []byte, idempotencyKey string, done func(status int, body []byte, err error))
	// Get sends GET url (a JSON answer is expected) and calls done once
	// with the status and body of the response, or with the network error.
	Get(url string, done func(status int, body []byte, err error))
	// Refresh obtains fresh credentials for the next requests (a close code
	// whose action is refresh asked for them) and calls done once.
	Refresh(done func(err error))
}

// Timer is a pending call made by a [Clock].
type Timer interface {
	// Stop cancels the call if it has not started.
	Stop() bool
}

// Clock tells the time and calls functions later. Tests use a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f, in a goroutine of its own or on the event loop,
	// once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// SystemClock is the [Clock] of package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Gap is a server's notice that resume was not exact: the messages of
// Channels after LastEventID are gone. The stream goes on from ID.
type Gap struct {
	Channels    []string
	LastEventID string
	ID          string
	// Reason is shared.GapExpired or shared.GapRestarted.
	Reason string
}

// Observer hears what a [Conn] or a [Client] has to tell the application.
// Its methods are called one at a time, in order, never with a lock held,
// so they may call back into the Conn or Client.
type Observer interface {
	// StateChanged reports a new state, or a new wire in the same state.
	StateChanged(s State, wire Kind)
	// Message delivers one message, once, in id order.
	Message(e *shared.Envelope)
	// Gap reports a gap notice.
	Gap(g *Gap)
	// Error reports an error frame that concerns no request, or, when
	// fatal, the reason the connection stopped (the state is then closed).
	Error(err *shared.Error, fatal bool)
}
