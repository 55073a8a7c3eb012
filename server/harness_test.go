package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	sse "github.com/tmaxmax/go-sse"
)

// The test harness: a Hub behind a real httptest server, and thin wrappers
// around real clients (go-sse, coder/websocket, raw TCP) that turn their
// streams into channels a test can wait on with a deadline.

// testEpoch is the epoch of every test broker, so ids read "7-<seq>".
const testEpoch = 7

// waitTimeout bounds every single wait of a test. It is generous because the
// suite runs with -race on two cores; a passing test never waits this long.
const waitTimeout = 10 * time.Second

// idOf returns the text form of the test epoch's id seq.
func idOf(seq uint64) string { return shared.ID{Epoch: testEpoch, Seq: seq}.String() }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testConfig is a Config with heartbeats and timeouts short enough that
// liveness tests take a second, not a minute.
func testConfig() Config {
	return Config{Heartbeat: 250 * time.Millisecond, WriteTimeout: time.Second, Logger: quietLogger()}
}

type testServer struct {
	hub    *Hub
	broker *MemoryBroker
	srv    *httptest.Server
	url    string // base URL, no trailing slash
}

// newTestServer starts a hub over its own MemoryBroker (epoch testEpoch
// unless mcfg says otherwise) behind an httptest server.
func newTestServer(t testing.TB, cfg Config, mcfg MemoryConfig) *testServer {
	t.Helper()
	return newTestServerOn(t, cfg, mcfg, nil)
}

// newTestServerOn is newTestServer with the listener wrapped by wrap (nil:
// left alone).
func newTestServerOn(t testing.TB, cfg Config, mcfg MemoryConfig, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	if mcfg.Epoch == 0 {
		mcfg.Epoch = testEpoch
	}
	b := NewMemoryBroker(&mcfg)
	t.Cleanup(func() { _ = b.Close() }) // runs last: after serveHub's cleanup
	cfg.Broker = b
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	h, err := NewHub(&cfg)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	ts := serveHubOn(t, h, wrap)
	ts.broker = b
	return ts
}

// serveHub serves h.Handler() on an httptest server. Cleanup shuts the hub
// down first: httptest.Server.Close waits for open streams.
func serveHub(t testing.TB, h *Hub) *testServer {
	t.Helper()
	return serveHubOn(t, h, nil)
}

func serveHubOn(t testing.TB, h *Hub, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.Handler())
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	return startedHub(t, h, srv)
}

// startedHub is the testServer of h served by the started srv; cleanup
// shuts the hub down, then srv.
func startedHub(t testing.TB, h *Hub, srv *httptest.Server) *testServer {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	return &testServer{hub: h, srv: srv, url: srv.URL}
}

// smallSendBuffers gives every accepted connection a small kernel send
// buffer. With the client's small receive buffer (smallBufferDialer), a
// client that stops reading blocks the server's writer after some 100 KiB
// instead of the megabytes TCP autotuning would allow, which keeps tests
// that need a blocked writer quick (publishing is slow under -race).
func smallSendBuffers(ln net.Listener) net.Listener { return sendBufferListener{ln} }

type sendBufferListener struct{ net.Listener }

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// pathCapacity bounds what the kernel buffers between a server using
// smallSendBuffers and a client using smallBufferDialer, with room to spare
// (the kernel doubles the sizes asked for; bufio and in-flight batches add
// a little).
const pathCapacity = 512 << 10

func (ts *testServer) addr() string { return ts.srv.Listener.Addr().String() }

// publish publishes through Hub.Publish and returns the id.
func (ts *testServer) publish(t testing.TB, channel, event, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	id, err := ts.hub.Publish(ctx, channel, event, []byte(data))
	assert.NoError(t, err)
	return id.String()
}

// do sends one HTTP request and returns the response with its body read.
func (ts *testServer) do(t testing.TB, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ts.url+path, strings.NewReader(body))
	assert.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.srv.Client().Do(req)
	assert.NoError(t, err)
	defer resp.Body.Close()
	p, err := io.ReadAll(resp.Body)
	assert.NoError(t, err)
	return resp, p
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// publishHTTP publishes through POST /rt/publish and returns the id.
func (ts *testServer) publishHTTP(t testing.TB, channel, event, data string) string {
	t.Helper()
	ch, _ := json.Marshal(channel)
	ev, _ := json.Marshal(event)
	resp, body := ts.do(t, http.MethodPost, "/rt/publish", jsonHeader,
		`{"channel":`+string(ch)+`,"event":`+string(ev)+`,"data":`+data+`}`)
	assert.Equal(t, "publish status ("+string(body)+")", resp.StatusCode, http.StatusOK)
	var r struct{ ID string }
	assert.NoError(t, json.Unmarshal(body, &r))
	return r.ID
}

// errorBody decodes a refusal's {"code":N,"message":"…"}.
func errorBody(t testing.TB, body []byte) shared.Code {
	t.Helper()
	var e struct {
		Code    int
		Message string
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	assert.True(t, "error body has a message: "+string(body), e.Message != "")
	return shared.Code(e.Code)
}

// metrics scrapes GET /metrics into "name{labels}" → value (fractions,
// such as a histogram's sum in seconds, truncated).
func (ts *testServer) metrics(t testing.TB) map[string]int64 {
	t.Helper()
	resp, body := ts.do(t, http.MethodGet, "/metrics", nil, "")
	assert.Equal(t, "metrics status", resp.StatusCode, http.StatusOK)
	out := make(map[string]int64)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64) // client_golang writes 1e+06
		assert.NoError(t, err)
		out[line[:i]] = int64(v)
	}
	return out
}

const (
	sseConnsMetric = `duet_connections{wire="sse"}`
	wsConnsMetric  = `duet_connections{wire="ws"}`
	slowMetric     = `duet_slow_consumer_disconnects_total`
)

// waitMetric polls /metrics until key satisfies ok or within passes, and
// returns how long that took.
func (ts *testServer) waitMetric(t testing.TB, key string, within time.Duration, ok func(int64) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last int64
	for {
		last = ts.metrics(t)[key]
		if ok(last) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("metric %s is still %d after %v", key, last, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func equals(want int64) func(int64) bool { return func(v int64) bool { return v == want } }

// ---- SSE ----

// sseClient reads one SSE stream with go-sse's parser (sse.Read) and hands
// the events over a channel.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	events chan sse.Event
	done   chan struct{}
	err    error // how the stream ended (nil on EOF); read after done
}

// startSSE opens GET /rt/sse?query and fails unless the server streams.
func (ts *testServer) startSSE(t testing.TB, client *http.Client, query string, header http.Header) *sseClient {
	t.Helper()
	if client == nil {
		client = ts.srv.Client()
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/rt/sse?"+query, nil)
	assert.NoError(t, err)
	maps(req.Header, header)
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE request: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("SSE status %d: %s", resp.StatusCode, body)
	}
	assert.Equal(t, "Content-Type", resp.Header.Get("Content-Type"), "text/event-stream")
	c := &sseClient{t: t, resp: resp, cancel: cancel, events: make(chan sse.Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 4 << 20}) {
			if err != nil {
				c.err = err
				return
			}
			select {
			case c.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func maps(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// openSSE is startSSE plus the hello event every stream starts with (sent
// once the subscription is in place).
func (ts *testServer) openSSE(t testing.TB, query string, header http.Header) *sseClient {
	t.Helper()
	c := ts.startSSE(t, nil, query, header)
	c.expectHello()
	return c
}

func (c *sseClient) expectHello() {
	c.t.Helper()
	ev := c.next()
	assert.Equal(c.t, "first event", ev.Type, sseHelloEvent)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "hello type", f.Type, shared.TypeHello)
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
	c.resp.Body.Close()
}

// nextWithin returns the next event, or false when the stream has ended.
func (c *sseClient) nextWithin(d time.Duration) (sse.Event, bool) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev := <-c.events:
		return ev, true
	case <-c.done:
		// The reader sends every event before it closes done.
		select {
		case ev := <-c.events:
			return ev, true
		default:
			return sse.Event{}, false
		}
	case <-timer.C:
		c.t.Fatalf("SSE: no event within %v", d)
		return sse.Event{}, false
	}
}

func (c *sseClient) next() sse.Event {
	c.t.Helper()
	ev, ok := c.nextWithin(waitTimeout)
	if !ok {
		c.t.Fatalf("SSE: stream ended (%v), expected an event", c.err)
	}
	return ev
}

// nextMessage returns the next event, which must be a message, decoded.
func (c *sseClient) nextMessage() (sse.Event, shared.Envelope) {
	c.t.Helper()
	ev := c.next()
	if strings.HasPrefix(ev.Type, shared.ReservedEventPrefix) {
		c.t.Fatalf("SSE: expected a message, got %s %s", ev.Type, ev.Data)
	}
	env, err := shared.DecodeEnvelope([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "SSE event name is the envelope's", ev.Type, env.Event)
	assert.Equal(c.t, "SSE id is the envelope's", ev.LastEventID, env.ID)
	return ev, env
}

// expectIDs reads messages and checks their ids are exactly want, in order.
func (c *sseClient) expectIDs(want ...string) {
	c.t.Helper()
	for i, id := range want {
		_, env := c.nextMessage()
		assert.Equal(c.t, "SSE message "+strconv.Itoa(i)+" id", env.ID, id)
	}
}

// expectGap reads a duet.gap event: the client now stands at at.
func (c *sseClient) expectGap(channels []string, from, at, reason string) {
	c.t.Helper()
	ev := c.next()
	assert.Equal(c.t, "SSE event", ev.Type, sseGapEvent)
	assert.Equal(c.t, "gap event id (the resume position)", ev.LastEventID, at)
	f, err := shared.DecodeFrame([]byte(ev.Data))
	assert.NoError(c.t, err)
	assert.Equal(c.t, "gap frame", f, shared.Frame{Type: shared.TypeGap, Channels: channels, LastEventID: from, ID: at, Reason: reason})
}

// end waits for the stream to end and returns the events left unread.
func (c *sseClient) end(within time.Duration) []sse.Event {
	c.t.Helper()
	var rest []sse.Event
	deadline := time.Now().Add(within)
	for {
		ev, ok := c.nextWithin(time.Until(deadline))
		if !ok {
			return rest
		}
		rest = append(rest, ev)
	}
}

// ---- WebSocket ----

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

// ---- raw TCP peers ----

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
