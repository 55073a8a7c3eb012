package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of a hijacked WebSocket connection. net/http's are 4 KiB
// each and stay allocated for the connection's life; clients send little
// (subscribe, publish), and a write bigger than the writer's buffer goes
// straight to the socket, so small buffers cost an idle connection less and
// a busy one at most a second write call per batch.
const (
	wsReadBuffer  = 1 << 10
	wsWriteBuffer = 1 << 10
)

// wsHijacker hands websocket.Accept the hijacked connection with smaller
// buffers than net/http's, and keeps the net.Conn for write deadlines.
type wsHijacker struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *wsHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = nc
	return nc, bufio.NewReadWriter(carryOver(brw.Reader, nc, wsReadBuffer), bufio.NewWriterSize(nc, wsWriteBuffer)), nil
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
