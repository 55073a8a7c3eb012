package server

import "fmt"

// ErrReconnect, as the cause of cancelling a connection's request context
// (context.WithCancelCause in a middleware in front of the hub), ends that
// one connection the way Shutdown ends all of them: the client is told to
// reconnect (shared.CodeShutdown, a WebSocket close frame or an SSE
// "duet.close" event) and resumes from its last id. A plain cancellation
// instead drops the connection with no word, like a network failure.
//
// The demo's transport lab uses it to restart a page's streams; an
// application can use it to move clients off a node it drains.
var ErrReconnect = fmt.Errorf("duet/server: the application asked the client to reconnect: %w", errShutdown)
