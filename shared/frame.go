package shared

// Protocol is the WebSocket subprotocol name of this version of the protocol.
const Protocol = "duet.v1"

// Frame types sent by clients.
const (
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypePublish     = "publish"
	TypePong        = "pong"
	// TypePresence and TypePresenceStats ask who is in a channel (the
	// server answers with a frame of the same type and ref).
	TypePresence      = "presence"
	TypePresenceStats = "presence_stats"
	// TypeHistory asks for a page of a channel's history; the server
	// answers with a history frame carrying Messages (PROTOCOL.md §4.7).
	TypeHistory = "history"
)

// Frame types sent by servers. TypePing is sent by both: the server pings
// so the client's watchdog sees a live connection; a client may ping to
// measure latency and gets a pong.
const (
	TypeHello        = "hello"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
	TypeMessage      = "message"
	TypeAck          = "ack"
	TypeError        = "error"
	TypeGap          = "gap"
	TypePing         = "ping"
	// TypeJoin and TypeLeave tell a channel's subscribers that a client
	// joined or left it (channels with join/leave events on).
	TypeJoin  = "join"
	TypeLeave = "leave"
)

// Gap reasons.
const (
	// GapExpired: the messages after the client's id were dropped from history
	// (count or age limit).
	GapExpired = "expired"
	// GapRestarted: the id is from another epoch: the server restarted and its
	// history is gone.
	GapRestarted = "restarted"
)

// DefaultEvent is the event name of a message published without one.
const DefaultEvent = "message"

// Envelope is one message as both wires carry it: the data of each SSE
// message and the body of a WebSocket "message" frame.
//
//	{"id":"ID","channel":"C","event":"E","data":<JSON>,"ts":<unix ms>}
type Envelope struct {
	ID      string
	Channel string
	Event   string
	// Data is the raw JSON value the publisher sent, or its raw bytes when
	// Binary is set.
	Data []byte
	// TS is the server's clock, in Unix milliseconds, when it accepted the
	// message.
	TS int64
	// Binary marks a message published as bytes (PROTOCOL.md §4.6). In
	// JSON, Data is then a base64 string and "encoding" is "base64".
	Binary bool
}

// Frame is one WebSocket protocol frame. It is flat: each type uses the
// fields its documentation in PROTOCOL.md lists and leaves the rest zero; a
// zero field is not encoded.
type Frame struct {
	Type string
	// Ref is chosen by the client to match replies (ack, error, subscribed)
	// to requests.
	Ref string

	// subscribe, unsubscribe, subscribed, unsubscribed, gap
	Channels    []string
	LastEventID string // JSON "lastEventId"

	// message, publish, ack, gap
	ID      string
	Channel string
	Event   string
	Data    []byte // raw JSON, or raw bytes when Binary
	TS      int64
	// Binary: Data is bytes; JSON carries them as a base64 string with
	// "encoding":"base64", a binary WebSocket frame as they are.
	Binary bool
	// publish: a retry with the same key on the same channel is stored
	// once and acknowledged with the first id (JSON "idempotencyKey").
	IdempotencyKey string

	// history request: Channel, and the page: after (or with Reverse
	// before) the id Since, at most Limit messages (JSON "since", "limit",
	// "reverse").
	Since   string
	Limit   int64
	Reverse bool
	// history reply: Channel, the page's messages in id order (never nil
	// in a reply: a history frame with Messages is a reply), whether none
	// of its range is lost, and the Since of the next page (JSON
	// "messages", "complete", "next").
	Messages []Envelope
	Complete bool
	Next     string

	// error
	Code    Code
	Message string

	// gap
	Reason string

	// hello: the server's settings the client adapts to, and the id the
	// server gave this connection (unique across a cluster; presence and
	// server-side control name connections by it).
	Client        string
	Heartbeat     int64 // JSON "heartbeatMs": ping interval in milliseconds
	MaxFrameBytes int64
	MaxChannels   int64

	// join, leave: the client and its user (Client, Channel). presence,
	// presence_stats: the channel's entries (presence only; nil in a
	// request), how many clients and distinct users it has.
	User    string
	Clients []PresenceEntry
	Count   int64
	Users   int64
}

// PresenceEntry is one client in a channel's presence: its client id, its
// user (the identity's subject, empty when anonymous) and the optional
// info the server attached to it (raw JSON, nil for none).
type PresenceEntry struct {
	Client string
	User   string
	Info   []byte
}

// Envelope returns the envelope a message frame carries.
func (f *Frame) Envelope() Envelope {
	return Envelope{ID: f.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, TS: f.TS, Binary: f.Binary}
}

// MessageFrame returns the message frame carrying e.
func MessageFrame(e *Envelope) Frame {
	return Frame{Type: TypeMessage, ID: e.ID, Channel: e.Channel, Event: e.Event, Data: e.Data, TS: e.TS, Binary: e.Binary}
}
