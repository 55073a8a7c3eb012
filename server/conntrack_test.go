package server

import (
	"net"
	"sync"
)

// connTracker records the connections a listener accepts, so that a test
// can drop them all from the server's side — including the hijacked ones
// (WebSocket, HTTP/1.1 SSE) that httptest.Server.CloseClientConnections no
// longer knows about.
type connTracker struct {
	net.Listener
	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// closeAll closes every connection accepted so far: a network drop.
func (l *connTracker) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}
