package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// Data frames written by wsWire, of every header length (7-, 16- and 64-bit
// payload lengths), text and binary, read back by coder/websocket.
func TestWebSocketFrameLengths(t *testing.T) {
	ts := newTestServer(t, testConfig(), MemoryConfig{})
	c := ts.openWS(t)
	c.subscribe("s", "", "sizes")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i, n := range []int{1, 60, 125, 126, 300, 65535, 65536, 70000, 200000} {
		data := `"` + strings.Repeat("x", n) + `"`
		if _, err := ts.broker.Publish(ctx, "sizes", "text", []byte(data)); err != nil {
			t.Fatal(err)
		}
		f := c.expect(shared.TypeMessage)
		assert.Equal(t, "text message id", f.ID, idOf(uint64(2*i+1)))
		assert.Equal(t, "text message data", string(f.Data), data)

		bin := []byte(strings.Repeat("\x00y", n/2+1))
		if _, err := ts.broker.PublishBinary(ctx, "sizes", "bin", bin); err != nil {
			t.Fatal(err)
		}
		c.expectBinary(idOf(uint64(2*i+2)), "sizes", "bin", bin)
	}
}

// recordingConn is a net.Conn that keeps what is written to it and counts
// write calls and write deadlines.
type recordingConn struct {
	net.Conn  // nil: only the methods below are used
	out       []byte
	writes    int
	deadlines int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	c.writes++
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { c.deadlines++; return nil }

func TestWSWire(t *testing.T) {
	nc := &recordingConn{}
	w := &wsWire{nc: nc, timeout: time.Minute}
	text := func(s string) error { return w.writeText(append(make([]byte, wsFrameReserve), s...)) }
	taken := func() string { s := string(nc.out); nc.out = nil; return s }

	assert.NoError(t, text("hi"))
	assert.Equal(t, "short text frame", taken(), "\x81\x02hi")
	assert.Equal(t, "write calls for a text frame", nc.writes, 1)
	assert.NoError(t, text(strings.Repeat("z", 200)))
	assert.Equal(t, "text frame with a 16-bit length", taken(), "\x81\x7e\x00\xc8"+strings.Repeat("z", 200))
	assert.Equal(t, "write calls for two text frames", nc.writes, 2)
	// (A TCP connection takes header and payload in one writev.)
	assert.NoError(t, w.writeBinary([]byte{1, 2, 3}))
	assert.Equal(t, "binary frame", taken(), "\x82\x03\x01\x02\x03")
	_, err := w.Write([]byte{0x89, 0}) // a ping from coder/websocket
	assert.NoError(t, err)
	assert.Equal(t, "control frame", taken(), "\x89\x00")
	assert.Equal(t, "write deadlines set for writes within the timeout", nc.deadlines, 1)

	// Once coder/websocket has sent a close frame, no data frame follows.
	_, err = w.Write([]byte{0x88, 2, 0x0f, 0xa0})
	assert.NoError(t, err)
	if err := text("late"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("text frame after close: got %v, want net.ErrClosed", err)
	}
	if err := w.writeBinary([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("binary frame after close: got %v, want net.ErrClosed", err)
	}
	assert.Equal(t, "bytes after the close frame", taken(), "\x88\x02\x0f\xa0")
}

func TestAppendFrameHeader(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "\x81\x00"},
		{125, "\x81\x7d"},
		{126, "\x81\x7e\x00\x7e"},
		{65535, "\x81\x7e\xff\xff"},
		{65536, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"},
	} {
		assert.Equal(t, "header for a payload of "+strconv.Itoa(c.n)+" bytes", string(appendFrameHeader(nil, 0x1, c.n)), c.want)
	}
}
