package server

import (
	"context"

	"github.com/duet-rt/duet/shared"
)

// Idempotent publish: a publish carries an idempotency key (the
// Idempotency-Key header of POST /rt/publish, a publish frame's
// "idempotencyKey", WithIdempotencyKey in Go), and the broker stores a
// repeat of the same key on the same channel, within its window, not again:
// it answers the first publish's id. De-duplication is the broker's, so
// that it holds across the nodes of a cluster (NATS JetStream's own,
// through Nats-Msg-Id).

// MaxIdempotencyKeyBytes is the longest idempotency key accepted; a longer
// one, or one with characters outside printable ASCII, is refused with
// shared.CodeBadRequest.
const MaxIdempotencyKeyBytes = 128

// An IdempotentBroker is a Broker that de-duplicates keyed publishes.
// MemoryBroker and natsbroker.Broker are IdempotentBrokers; the hub refuses
// keyed publishes over a broker that is not (shared.CodeBadRequest), rather
// than store a retry twice without saying so.
type IdempotentBroker interface {
	Broker
	// PublishOnce is Publish, or PublishBinary when binary is set, under an
	// idempotency key: a repeat of key on channel within the broker's
	// de-duplication window stores nothing and returns the id the first
	// publish was given, with dup set. key is a valid idempotency key.
	PublishOnce(ctx context.Context, key, channel, event string, data []byte, binary bool) (id shared.ID, dup bool, err error)
}

// A PublishOption tweaks one Hub.Publish, PublishJSON or PublishBinary call.
type PublishOption func(*publishOptions)

type publishOptions struct {
	key string
}

// WithIdempotencyKey makes a publish idempotent: a repeat with the same key
// on the same channel within the broker's window (MemoryConfig's and
// natsbroker.Config's IdempotencyWindow, 2 minutes by default) stores
// nothing new and returns the first publish's id. The key is at most
// MaxIdempotencyKeyBytes of printable ASCII; the empty key means none.
func WithIdempotencyKey(key string) PublishOption {
	return func(o *publishOptions) { o.key = key }
}

func collectPublishOptions(opts []PublishOption) publishOptions {
	var o publishOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// validateIdempotencyKey checks a client's idempotency key.
func validateIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKeyBytes {
		return shared.NewError(shared.CodeBadRequest, "idempotency key is longer than 128 bytes")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return shared.NewError(shared.CodeBadRequest, "idempotency key has a character outside printable ASCII (0x21–0x7E)")
		}
	}
	return nil
}

// store hands a checked publish to the broker: keyed to an
// IdempotentBroker, else to Publish or PublishBinary.
func (h *Hub) store(ctx context.Context, channel, event string, data []byte, binary bool, o publishOptions) (shared.ID, error) {
	if o.key != "" {
		if err := validateIdempotencyKey(o.key); err != nil {
			return shared.ID{}, err
		}
		ib, ok := h.broker.(IdempotentBroker)
		if !ok {
			return shared.ID{}, shared.NewError(shared.CodeBadRequest, "this server's broker does not de-duplicate publishes: send no idempotency key")
		}
		id, dup, err := ib.PublishOnce(ctx, o.key, channel, event, data, binary)
		if err != nil {
			h.metrics.brokerError(err, true)
			return shared.ID{}, err
		}
		if dup {
			h.metrics.duplicates.Add(1)
		} else {
			h.metrics.published.Add(1)
		}
		return id, nil
	}
	var m *Message
	var err error
	if binary {
		bb, ok := h.broker.(BinaryBroker)
		if !ok {
			return shared.ID{}, shared.NewError(shared.CodeBadRequest, "this server's broker does not carry binary messages")
		}
		m, err = bb.PublishBinary(ctx, channel, event, data)
	} else {
		m, err = h.broker.Publish(ctx, channel, event, data)
	}
	if err != nil {
		h.metrics.brokerError(err, true)
		return shared.ID{}, err
	}
	h.metrics.published.Add(1)
	return m.ID, nil
}
