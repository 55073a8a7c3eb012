package server

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// wsWire is a hijacked WebSocket connection as the writers see it. Data
// frames do not go through coder/websocket's writer: that path costs two
// channel-based locks, a deferred error wrapper and, with a small buffered
// writer, a second write call for every batch over the buffer's size. The
// connection's writer instead puts the frame header in front of the batch
// (wsFrameReserve bytes are kept free there) and writes header and payload
// in one call. coder/websocket still does the handshake, reads, answers
// pings and closes; its frames (all control frames: ping, pong, close, at
// most 127 bytes, so each reaches Write whole in one flush of its buffered
// writer) pass through Write. One mutex orders both kinds of frames, and
// once a close frame has gone out no data frame follows it.
type wsWire struct {
	nc      net.Conn
	closer  *resettableConn // nc as coder/websocket closes it
	timeout time.Duration

	mu       sync.Mutex // serialises writes to nc; guards the fields below
	deadline writeDeadline
	closing  bool // a close frame went out
	hdr      [wsFrameReserve]byte
	vec      [2][]byte
}

// wsFrameReserve is room kept in front of a batch for its frame header.
const wsFrameReserve = 10

// wsControlBuffer is the size of coder/websocket's buffered writer: it only
// ever holds one control frame.
const wsControlBuffer = 256

// Write implements io.Writer for coder/websocket's buffered writer.
func (w *wsWire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && p[0] == 0x88 { // FIN + close: the connection is closing
		w.closing = true
	}
	w.deadline.arm(w.nc, w.timeout)
	return w.nc.Write(p)
}

// writeText writes p[wsFrameReserve:] as one text frame; the first
// wsFrameReserve bytes of p are free for the header.
func (w *wsWire) writeText(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return net.ErrClosed
	}
	hdr := appendFrameHeader(w.hdr[:0], 0x1, len(p)-wsFrameReserve)
	out := p[wsFrameReserve-len(hdr):]
	copy(out, hdr)
	w.deadline.arm(w.nc, w.timeout)
	_, err := w.nc.Write(out)
	return err
}

// writeBinary writes p as one binary frame, in one call where the
// connection supports vectored writes.
func (w *wsWire) writeBinary(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return net.ErrClosed
	}
	w.vec[0] = appendFrameHeader(w.hdr[:0], 0x2, len(p))
	w.vec[1] = p
	bufs := net.Buffers(w.vec[:])
	w.deadline.arm(w.nc, w.timeout)
	_, err := bufs.WriteTo(w.nc)
	w.vec[1] = nil
	return err
}

// appendFrameHeader appends the header of an unmasked, final frame of
// opcode op with n bytes of payload (RFC 6455 section 5.2).
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}
