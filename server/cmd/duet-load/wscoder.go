package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// wsMessages is what a subscriber needs of a WebSocket client.
type wsMessages interface {
	WriteText(p []byte) error
	// ReadMessage returns the next data message, valid until the next call;
	// heartbeat, when the client sees control frames, is called for each.
	ReadMessage(heartbeat func()) ([]byte, error)
}

// coderWS is the coder/websocket client on the same connection, for
// comparing its cost with wsConn's (-ws-client coder).
type coderWS struct {
	c   *websocket.Conn
	buf bytes.Buffer
}

// dialCoderWS performs the handshake over conn, already dialled.
func dialCoderWS(ctx context.Context, conn net.Conn, host, path, subprotocol string) (*coderWS, error) {
	used := false
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, fmt.Errorf("coder/websocket dialled twice")
			}
			used = true
			return conn, nil
		},
	}}
	opts := &websocket.DialOptions{HTTPClient: client}
	if subprotocol != "" {
		opts.Subprotocols = []string{subprotocol}
	}
	c, _, err := websocket.Dial(ctx, "ws://"+host+path, opts)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(maxWSMessage)
	return &coderWS{c: c}, nil
}

func (w *coderWS) WriteText(p []byte) error {
	return w.c.Write(context.Background(), websocket.MessageText, p)
}

func (w *coderWS) ReadMessage(func()) ([]byte, error) {
	_, r, err := w.c.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	w.buf.Reset()
	if _, err := w.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}
