package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/duet-rt/duet/shared"
)

// The hub's registry of live connections: what it tracks of each, how an
// application observes and ends one, what a client is told when the server
// ends its connection, and the log line when a connection ends.

// conn is one live SSE or WebSocket connection, as the hub tracks it.
type conn struct {
	// id is the client id the hello frame announces: random, so unique
	// across the nodes of a cluster without coordination.
	id string
	// user is the identity's subject when the connection opened; empty for
	// anonymous clients.
	user   string
	wire   string
	cancel context.CancelCauseFunc
	// presence is the channels the connection is listed in.
	presence connPresence
	// revoke drops channel from the connection (server-side unsubscribe)
	// and reports whether it held it; held lists its channels. Set by the
	// wire's handler once it subscribes, under Hub.mu; nil before.
	revoke func(channel string) bool
	held   func() []string
	// atEnd holds what to undo when the connection ends (a connection
	// slot, a credential-expiry timer, an observer's goodbye): connections
	// outlive their handlers, so defers in the handler cannot do it.
	atEnd []func()
}

// onEnd adds f to what unregister runs.
func (c *conn) onEnd(f func()) { c.atEnd = append(c.atEnd, f) }

// Causes of a connection's end that its client is told of (closeNotice).
var (
	// errShutdown ends the connections of a hub that shuts down.
	errShutdown = errors.New("duet/server: hub is shutting down")
	// errCredentialsExpired ends a connection whose credentials expired.
	errCredentialsExpired = errors.New("duet/server: credentials expired")
)

// register tracks a new connection of the client id is; it fails once
// Shutdown has begun.
func (h *Hub) register(parent context.Context, wire string, id *Identity) (*conn, context.Context, error) {
	ctx, cancel := context.WithCancelCause(parent)
	c := &conn{id: newClientID(), user: id.Subject, wire: wire, cancel: cancel}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		cancel(errShutdown)
		return nil, nil, shared.NewError(shared.CodeShutdown, "the server is shutting down; retry on another node or in a moment")
	}
	h.conns[c.id] = c
	h.metrics.connect(wire)
	c.observe(parent)
	return c, ctx, nil
}

func (h *Hub) unregister(c *conn) {
	c.cancel(nil)
	for i := len(c.atEnd) - 1; i >= 0; i-- {
		c.atEnd[i]()
	}
	h.mu.Lock()
	delete(h.conns, c.id)
	h.metrics.disconnect(c.wire)
	if len(h.conns) == 0 {
		h.idle.Broadcast()
	}
	h.mu.Unlock()
}

// newClientID returns a new client id: 96 random bits, base64url (16
// characters). Random rather than counted, so that nodes of a cluster need
// not agree on anything to keep ids apart.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrReconnect, as the cause given to a connection's end function (see
// WithConnObserver), ends that one connection the way Shutdown ends all of
// them: the client is told to reconnect (shared.CodeShutdown, a WebSocket
// close frame or an SSE "duet.close" event) and resumes from its last id.
// Any other cause drops the connection with no word, like a network
// failure.
//
// The demo's transport lab uses it to restart a page's streams; an
// application can use it to move clients off a node it drains.
var ErrReconnect = fmt.Errorf("duet/server: the application asked the client to reconnect: %w", errShutdown)

// ConnObserver hears of a connection the hub opens: opened gets a function
// that ends the connection with a cause, and returns a function the hub
// calls once the connection has ended.
type ConnObserver func(end func(cause error)) (closed func())

type observerKey struct{}

// WithConnObserver returns ctx carrying o. A middleware in front of the
// hub's handlers puts it in a request's context to learn of the SSE stream
// or WebSocket that request opens and to be able to end it. The request's
// own context cannot serve: HTTP/1.1 streams and WebSockets are taken over
// from net/http and outlive their handler.
func WithConnObserver(ctx context.Context, o ConnObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// observe tells the observer in ctx, if any, of c.
func (c *conn) observe(ctx context.Context) {
	if o, _ := ctx.Value(observerKey{}).(ConnObserver); o != nil {
		if closed := o(c.cancel); closed != nil {
			c.onEnd(closed)
		}
	}
}

// closeNotice is the code and reason a connection the server ends tells
// its client, by the connection's cancellation cause: a shutdown (or
// ErrReconnect) or expired credentials. Other causes carry no notice.
func closeNotice(ctx context.Context) (shared.Code, string, bool) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errShutdown):
		return shared.CodeShutdown, "the server is shutting down: reconnect", true
	case errors.Is(cause, errCredentialsExpired):
		return shared.CodeUnauthorized, "credentials expired: refresh them, then reconnect and resume", true
	}
	var d *Disconnect
	if errors.As(cause, &d) {
		return d.Code, d.Reason, true
	}
	return 0, "", false
}

// logEnd logs why a connection ended, unless it ended normally.
func (h *Hub) logEnd(remote, wire string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errShutdown) {
		return
	}
	h.cfg.Logger.Debug("duet: connection ended", "wire", wire, "remote", remote, "err", err)
}
