package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/duet-rt/duet/shared"
)

// The test harness's raw TCP peers: clients that misbehave on purpose.

// rawWS is a minimal hand-written WebSocket client: it does what a test
// needs a real library would not (never answer pings, never read) and what a
// benchmark needs (read without allocating).
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	hdr  [14]byte
}

// dialRawWS performs the opening handshake over a fresh TCP connection.
func dialRawWS(ctx context.Context, d *net.Dialer, addr string) (*rawWS, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(conn, "GET /rt/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key[:]), shared.Protocol)
	br := bufio.NewReaderSize(conn, 64<<10)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	resp, err := http.ReadResponse(br, nil)
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("handshake status %d", resp.StatusCode)
	}
	return &rawWS{conn: conn, br: br}, nil
}

// Opcodes of RFC 6455.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// writeFrame writes one masked, final frame (client frames must be masked).
func (r *rawWS) writeFrame(opcode byte, p []byte) error {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b := []byte{0x80 | opcode}
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) <= 0xFFFF:
		b = append(b, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	b = append(b, mask[:]...)
	for i, c := range p {
		b = append(b, c^mask[i%4])
	}
	_, err := r.conn.Write(b)
	return err
}

// readFrame reads one server frame (unmasked) into buf.
func (r *rawWS) readFrame(buf []byte) (opcode byte, payload []byte, err error) {
	h := r.hdr[:2]
	if _, err := io.ReadFull(r.br, h); err != nil {
		return 0, nil, err
	}
	opcode = h[0] & 0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(r.br, r.hdr[2:4]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(r.hdr[2:4]))
	case 127:
		if _, err := io.ReadFull(r.br, r.hdr[2:10]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(r.hdr[2:10])
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	payload = buf[:n]
	_, err = io.ReadFull(r.br, payload)
	return opcode, payload, err
}

// rawSSE opens GET /rt/sse?query over a fresh TCP connection and returns
// once the response headers are in: the stream is then up to the caller.
func rawSSE(ctx context.Context, d *net.Dialer, addr, query string) (net.Conn, *http.Response, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(conn, "GET /rt/sse?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", query, addr)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/rt/sse"}}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), req)
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, nil, fmt.Errorf("SSE status %d", resp.StatusCode)
	}
	return conn, resp, nil
}

// smallBufferDialer dials TCP connections with a small receive buffer, so
// that a client that stops reading fills the path to it quickly and
// predictably (the kernel stops autotuning a buffer set explicitly).
func smallBufferDialer() *net.Dialer {
	return &net.Dialer{Control: setReceiveBuffer(16 << 10)}
}

// fill returns a JSON string value of about n bytes.
func fill(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }
