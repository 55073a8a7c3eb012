package server

import (
	"net"
	"sync/atomic"
	"time"
)

// A connection the server gives up on — its client stopped reading (a write
// timeout) or fell too far behind (a slow consumer, a heartbeat timeout) —
// is reset rather than closed gracefully when data is still unsent, as
// nginx's reset_timedout_connection does. A graceful close would leave the
// kernel holding megabytes for a peer that reads through a small window:
// the client would see neither the data nor the end for a long time, and
// the server would keep the memory. A reset (SO_LINGER 0) drops what is
// unsent, and the client sees the end as soon as it reads.

// resettableConn is a hijacked connection whose Close resets it once
// giveUp has been called and the peer has not received everything.
type resettableConn struct {
	net.Conn
	gaveUp atomic.Bool
}

// giveUp marks the connection as ended by the server for a client that does
// not keep up: Close resets it unless everything written has been received.
func (c *resettableConn) giveUp() { c.gaveUp.Store(true) }

// Close closes the connection, with a reset when giveUp was called and data
// is still unsent or unacknowledged.
func (c *resettableConn) Close() error {
	if c.gaveUp.Load() && unreceived(c.Conn) != 0 {
		setLingerZero(c.Conn)
	}
	return c.Conn.Close()
}

// drain waits up to grace for the peer to read what is unsent and close
// its end, after the server's final write: a client that reads its way to
// a close notice gets it and a graceful end. The write side is shut first,
// so the client sees the end of the stream after the data.
func (c *resettableConn) drain(grace time.Duration) {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(grace))
	var buf [64]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return // the peer left (EOF), or the grace ran out
		}
	}
}

// setLingerZero makes closing nc reset it (RST) and drop unsent data.
func setLingerZero(nc net.Conn) {
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS
		nc = t.NetConn()
	}
	if t, ok := nc.(interface{ SetLinger(int) error }); ok {
		_ = t.SetLinger(0)
	}
}
