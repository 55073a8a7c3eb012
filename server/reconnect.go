package server

import (
	"context"
	"fmt"
)

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
