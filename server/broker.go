package server

import (
	"context"
	"errors"

	"github.com/duet-rt/duet/shared"
)

// A Broker stores and routes messages. The hub owns the connections; the
// broker owns ids, history and who is subscribed to what. Implementations
// must be safe for concurrent use.
type Broker interface {
	// Publish stores a message and delivers it to the channel's subscribers.
	// It returns once the message is stored (and has its id). data is a
	// validated JSON value; event is never empty.
	Publish(ctx context.Context, channel, event string, data []byte) (*Message, error)

	// Subscribe adds channels to sub. When from is not the zero ID, the
	// messages of those channels published after from are replayed.
	//
	// A broker bounds the work of one replay: past its limit it replays the
	// oldest messages only and sets Resume.Continue.
	//
	// Ordering contract: the broker calls sub.Resumed exactly once, before
	// any sub.Deliver of a message newer than the replay, and delivers every
	// later message of those channels with sub.Deliver, in id order, with no
	// duplicate of the replay. A channel sub already has is not replayed
	// again.
	Subscribe(ctx context.Context, sub Subscriber, channels []string, from shared.ID) error

	// Unsubscribe removes channels from sub; with no channels it removes all
	// of them. It never fails for unknown channels.
	Unsubscribe(sub Subscriber, channels ...string)

	// Head returns the id of the latest message (zero before the first).
	Head() shared.ID

	// Healthy reports nil when the broker can publish and deliver.
	Healthy() error

	// Close stops the broker. Publish and Subscribe fail afterwards.
	Close() error
}

// A BinaryBroker is a Broker that also stores binary messages (bytes
// published as they are, PROTOCOL.md §4.6), and replays them as binary. A
// WebSocket subscriber gets each one as a binary WebSocket message; an SSE
// subscriber gets the usual envelope with the bytes in base64 and
// "encoding":"base64", so a plain EventSource still works. MemoryBroker and natsbroker.Broker are BinaryBrokers; the
// hub refuses binary publishes over a broker that is not.
type BinaryBroker interface {
	Broker
	// PublishBinary is Publish for raw bytes: the message it returns, and
	// every replay of it, has Envelope.Binary set.
	PublishBinary(ctx context.Context, channel, event string, data []byte) (*Message, error)
}

// A Subscriber receives messages from a Broker. Its methods are called with
// broker locks held: they must not block and must not call the broker.
type Subscriber interface {
	// Deliver queues m. It returns false when the subscriber's queue is full;
	// the broker then drops m for this subscriber and the hub disconnects it
	// (it will resume from its last id, so nothing is lost).
	Deliver(m *Message) bool

	// Resumed queues the outcome of a Subscribe call: the subscribed
	// channels, the replayed messages and, if resume was not exact, a gap.
	Resumed(r *Resume) bool
}

// Resume is what a Subscribe call replays.
type Resume struct {
	Channels []string
	// Messages are the retained messages after the requested id, in id order.
	Messages []*Message
	// Gap is set when some messages after the requested id are gone.
	Gap *Gap
	// Continue, when not zero, says the replay stops short: the broker's
	// replay limit (or the connection's queue) was reached, and messages
	// after Continue were not replayed. The hub then delivers nothing
	// more on the connection and ends it after the replay, telling the
	// client (shared.CodeReplayLimit) to reconnect and resume from
	// Continue, which is the last replayed message's id when there is one.
	Continue shared.ID
}

// Gap tells a client that resume could not be exact. Its fields are named
// as on the wire (a gap frame's lastEventId and id).
type Gap struct {
	// Channels are those that lost messages.
	Channels []string
	// LastEventID is the id the client asked to resume from.
	LastEventID shared.ID
	// ID is where the client stands after the gap: resuming from it yields
	// no gap again unless more history expires meanwhile.
	ID shared.ID
	// Reason is shared.GapExpired or shared.GapRestarted.
	Reason string
}

// Errors brokers return. Hub handlers map them to protocol codes.
var (
	ErrBrokerClosed = errors.New("duet/server: broker is closed")
	// ErrFutureID is returned by Subscribe for an id of the current epoch
	// that was never issued.
	ErrFutureID = errors.New("duet/server: event id is from the future")
)
