package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"time"
)

// wsReadBuffer is the read buffer of a hijacked WebSocket connection.
// net/http's are 4 KiB each and stay allocated for the connection's life;
// clients send little (subscribe, publish). The write side is a
// wsControlBuffer: data frames bypass it.
const wsReadBuffer = 1 << 10

// wsHijacker hands websocket.Accept the hijacked connection with smaller
// buffers than net/http's, writing through a wsWire, which it keeps.
type wsHijacker struct {
	http.ResponseWriter
	timeout time.Duration // the wire's write timeout
	wire    *wsWire
}

func (w *wsHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// coder/websocket closes the connection through rc, which resets it
	// when the hub gave up on the client; data frames go to nc directly
	// (a wrapper would hide its vectored writes).
	rc := &resettableConn{Conn: nc}
	w.wire = &wsWire{nc: nc, closer: rc, timeout: w.timeout}
	return rc, bufio.NewReadWriter(carryOver(brw.Reader, nc, wsReadBuffer), bufio.NewWriterSize(w.wire, wsControlBuffer)), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (w *wsHijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// carryOver returns a reader of size bytes (more if it must) that yields
// what br had buffered, then nc. The carried bytes are in its buffer, not
// behind it: websocket.Accept re-wraps the reader around what it has
// buffered.
func carryOver(br *bufio.Reader, nc net.Conn, size int) *bufio.Reader {
	n := br.Buffered()
	if n == 0 {
		return bufio.NewReaderSize(nc, size)
	}
	held, _ := br.Peek(n)
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(held)), nc), max(size, n))
	_, _ = r.Peek(n) // reads only the carried bytes: no blocking read of nc
	return r
}

// canHijack reports whether w, or a writer it wraps, can hand over its
// connection.
func canHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}
