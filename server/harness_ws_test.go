package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// The test harness's WebSocket client.

// wsFrame is one protocol frame as received: decoded, and the raw line.
type wsFrame struct {
	shared.Frame
	Raw string
}

// wsClient is a coder/websocket connection whose text frames are split on
// '\n' (the server batches protocol frames) and decoded one by one; a binary
// frame is decoded as one frame with Binary set.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	cancel context.CancelFunc
	frames chan wsFrame
	done   chan struct{}
	err    error // the Read error that ended the connection; read after done
	// lastRef is the ref of the last subscribe, which a gap frame repeats.
	lastRef string
}

// dialWS dials /rt/ws with the duet.v1 subprotocol unless opts says
// otherwise.
func (ts *testServer) dialWS(t testing.TB, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{Subprotocols: []string{shared.Protocol}}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = ts.srv.Client()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.url, "http")+"/rt/ws", opts)
}

// openWS dials and checks the hello frame.
func (ts *testServer) openWS(t testing.TB) *wsClient {
	t.Helper()
	conn, _, err := ts.dialWS(t, nil)
	assert.NoError(t, err)
	c := newWSClient(t, conn)
	f := c.next()
	assert.Equal(t, "first frame", f.Type, shared.TypeHello)
	assert.Equal(t, "hello heartbeatMs", f.Heartbeat, ts.hub.cfg.Heartbeat.Milliseconds())
	return c
}

func newWSClient(t testing.TB, conn *websocket.Conn) *wsClient {
	conn.SetReadLimit(16 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsClient{t: t, conn: conn, cancel: cancel, frames: make(chan wsFrame, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, p, err := conn.Read(ctx)
			if err != nil {
				c.err = err
				return
			}
			if typ == websocket.MessageBinary { // one binary frame
				f, err := shared.DecodeBinaryFrame(p)
				if err != nil {
					c.err = fmt.Errorf("undecodable binary frame %x: %w", p, err)
					return
				}
				select {
				case c.frames <- wsFrame{Frame: f, Raw: fmt.Sprintf("binary %x", p)}:
					continue
				case <-ctx.Done():
					return
				}
			}
			for _, line := range bytes.Split(p, []byte{'\n'}) {
				f, err := shared.DecodeFrame(line)
				if err != nil {
					c.err = fmt.Errorf("undecodable frame %q: %w", line, err)
					return
				}
				if f.Type == shared.TypePing {
					continue // a heartbeat: the client's watchdog's business
				}
				select {
				case c.frames <- wsFrame{Frame: f, Raw: string(line)}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *wsClient) close() {
	select {
	case <-c.done:
		_ = c.conn.CloseNow()
	default:
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	<-c.done
}

func (c *wsClient) nextWithin(d time.Duration) (wsFrame, bool) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case f := <-c.frames:
		return f, true
	case <-c.done:
		select {
		case f := <-c.frames:
			return f, true
		default:
			return wsFrame{}, false
		}
	case <-timer.C:
		c.t.Fatalf("WS: no frame within %v", d)
		return wsFrame{}, false
	}
}

func (c *wsClient) next() wsFrame {
	c.t.Helper()
	f, ok := c.nextWithin(waitTimeout)
	if !ok {
		c.t.Fatalf("WS: connection ended (%v), expected a frame", c.err)
	}
	return f
}

// expect returns the next frame, which must be of type typ.
func (c *wsClient) expect(typ string) wsFrame {
	c.t.Helper()
	f := c.next()
	if f.Type != typ {
		c.t.Fatalf("WS: expected a %q frame, got %s", typ, f.Raw)
	}
	return f
}

// expectError returns the next frame, which must be an error with code.
func (c *wsClient) expectError(ref string, code shared.Code) wsFrame {
	c.t.Helper()
	f := c.expect(shared.TypeError)
	assert.Equal(c.t, "error code in "+f.Raw, f.Code, code)
	assert.Equal(c.t, "error ref", f.Ref, ref)
	assert.True(c.t, "error has a message", f.Message != "")
	return f
}

func (c *wsClient) expectIDs(want ...string) {
	c.t.Helper()
	for i, id := range want {
		f := c.expect(shared.TypeMessage)
		assert.Equal(c.t, "WS message "+strconv.Itoa(i)+" id", f.ID, id)
	}
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	assert.NoError(c.t, c.conn.Write(ctx, websocket.MessageText, []byte(frame)))
}

func (c *wsClient) sendFrame(f shared.Frame) {
	c.t.Helper()
	c.send(string(shared.AppendFrame(nil, &f)))
}

// subscribe subscribes and returns the "subscribed" reply.
func (c *wsClient) subscribe(ref, lastEventID string, channels ...string) wsFrame {
	c.t.Helper()
	c.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: ref, Channels: channels, LastEventID: lastEventID})
	f := c.expect(shared.TypeSubscribed)
	assert.Equal(c.t, "subscribed ref", f.Ref, ref)
	c.lastRef = ref
	return f
}

// expectGap reads the gap frame answering the last subscribe.
func (c *wsClient) expectGap(channels []string, from, at, reason string) {
	c.t.Helper()
	f := c.expect(shared.TypeGap)
	assert.Equal(c.t, "gap frame", f.Frame, shared.Frame{Type: shared.TypeGap, Ref: c.lastRef, Channels: channels, LastEventID: from, ID: at, Reason: reason})
}

// closeStatus waits for the connection to end and returns its close code
// (-1 when it ended without a close frame) and the frames left unread.
func (c *wsClient) closeStatus(within time.Duration) (websocket.StatusCode, []wsFrame) {
	c.t.Helper()
	var rest []wsFrame
	deadline := time.Now().Add(within)
	for {
		f, ok := c.nextWithin(time.Until(deadline))
		if !ok {
			return websocket.CloseStatus(c.err), rest
		}
		rest = append(rest, f)
	}
}
