package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// wsConn is a minimal RFC 6455 client: the opening handshake, text frames
// out (masked, as clients must), and a reader that reassembles messages,
// answers pings and reports close frames. It is what a load generator needs
// and no more: one goroutine reads, and only that goroutine writes after the
// handshake. It costs one bufio.Reader and a message buffer per connection.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
	msg  []byte // the message being assembled; reused
	out  []byte // the frame being written; reused
}

// maxWSMessage bounds a message from the server.
const maxWSMessage = 4 << 20

var errWSClosed = errors.New("duet-load: WebSocket closed by the server")

// wsHandshake upgrades conn with a GET of path (with its query), offering
// subprotocol when not empty.
func wsHandshake(conn net.Conn, host, path, subprotocol string, bufSize int) (*wsConn, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k + "\r\n"
	if subprotocol != "" {
		req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("WebSocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("WebSocket handshake: %s: %s", resp.Status, body)
	}
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		return nil, errors.New("WebSocket handshake: wrong Sec-WebSocket-Accept")
	}
	if subprotocol != "" && resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol {
		return nil, fmt.Errorf("WebSocket handshake: server chose subprotocol %q, not %q", resp.Header.Get("Sec-WebSocket-Protocol"), subprotocol)
	}
	return &wsConn{conn: conn, br: br}, nil
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// WriteText sends p as one masked text frame.
func (c *wsConn) WriteText(p []byte) error { return c.writeFrame(opText, p) }

func (c *wsConn) writeFrame(op byte, p []byte) error {
	c.out = appendClientFrame(c.out[:0], op, p)
	_, err := c.conn.Write(c.out)
	return err
}

// appendClientFrame appends p as one final frame of type op, masked as a
// client's frames must be.
func appendClientFrame(b []byte, op byte, p []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range b[start:] {
		b[start+i] ^= mask[i&3]
	}
	return b
}

// ReadMessage returns the next data message; the slice is valid until the
// next call. Pings are answered, pongs skipped; a close frame is answered and
// returned as errWSClosed (wrapped with its code). heartbeat is called for
// each control frame, so idle connections show that the server is alive.
func (c *wsConn) ReadMessage(heartbeat func()) ([]byte, error) {
	c.msg = c.msg[:0]
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0F
		if hdr[1]&0x80 != 0 {
			return nil, errors.New("WebSocket: masked frame from the server")
		}
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > maxWSMessage || uint64(len(c.msg))+n > maxWSMessage {
			return nil, fmt.Errorf("WebSocket: message over %d bytes", maxWSMessage)
		}
		if op >= opClose { // control frames: at most 125 bytes, never fragmented
			var ctl [125]byte
			if n > 125 {
				return nil, errors.New("WebSocket: control frame over 125 bytes")
			}
			if _, err := io.ReadFull(c.br, ctl[:n]); err != nil {
				return nil, err
			}
			if heartbeat != nil {
				heartbeat()
			}
			switch op {
			case opPing:
				if err := c.writeFrame(opPong, ctl[:n]); err != nil {
					return nil, err
				}
			case opClose:
				_ = c.writeFrame(opClose, ctl[:min(n, 2)])
				code := 1005
				if n >= 2 {
					code = int(binary.BigEndian.Uint16(ctl[:2]))
				}
				return nil, fmt.Errorf("%w (code %d: %s)", errWSClosed, code, ctl[min(n, 2):n])
			}
			continue
		}
		if op != opContinuation && op != opText && op != opBinary {
			return nil, fmt.Errorf("WebSocket: unknown opcode %d", op)
		}
		start := len(c.msg)
		c.msg = append(c.msg, make([]byte, n)...)[:start+int(n)]
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			return nil, err
		}
		if fin {
			return c.msg, nil
		}
	}
}
