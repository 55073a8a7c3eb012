package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/duet-rt/duet/server"
	"github.com/nats-io/nats.go"
)

// Control messages between the hubs of a cluster (server.ControlBroker):
// core NATS, not the stream, on "duet.control.<stream>". A node that is
// cut off from NATS when one is sent misses it (at most once): server-side
// control is for connections that exist now.

// hdrNode names the node that sent a control message, so that it skips
// its own.
const hdrNode = "Duet-Node"

// controlSubject is the subject of the control messages of b's cluster.
func (b *Broker) controlSubject() string { return "duet.control." + b.cfg.Stream }

// nodeID returns this broker's node id, made on first use.
func (b *Broker) nodeID() string {
	b.nodeOnce.Do(func() {
		var p [9]byte
		_, _ = rand.Read(p[:])
		b.node = base64.RawURLEncoding.EncodeToString(p[:])
	})
	return b.node
}

// SendControl implements server.ControlBroker: it publishes msg to the
// other nodes and returns once NATS has it (or Config.RequestTimeout has
// passed).
func (b *Broker) SendControl(ctx context.Context, msg []byte) error {
	m := nats.NewMsg(b.controlSubject())
	m.Header.Set(hdrNode, b.nodeID())
	m.Data = msg
	if err := b.nc.PublishMsg(m); err != nil {
		return unavailable(err)
	}
	fctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	if err := b.nc.FlushWithContext(fctx); err != nil {
		return b.requestError(ctx, err)
	}
	return nil
}

// OnControl implements server.ControlBroker with a core NATS subscription,
// which the connection renews after a reconnect.
func (b *Broker) OnControl(f func(msg []byte)) (remove func()) {
	self := b.nodeID()
	sub, err := b.nc.Subscribe(b.controlSubject(), func(m *nats.Msg) {
		if m.Header.Get(hdrNode) != self {
			f(m.Data)
		}
	})
	if err != nil {
		b.log.Warn("duet/natsbroker: cannot hear control messages", "err", err)
		return func() {}
	}
	// The server knows of the subscription once the flush returns.
	_ = b.nc.FlushTimeout(b.cfg.RequestTimeout)
	return func() { _ = sub.Unsubscribe() }
}

var _ server.ControlBroker = (*Broker)(nil)
