package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// waitTimeout bounds every single wait; a passing run never gets near it.
const waitTimeout = 30 * time.Second

// target is a Hub over a MemoryBroker served by a real http.Server built
// with server.NewHTTPServer on a loopback port.
type target struct {
	hub    *server.Hub
	broker *server.MemoryBroker
	srv    *http.Server
	addr   string // host:port
	url    string // http://host:port
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func startTarget(t *testing.T, cfg server.Config, mcfg server.MemoryConfig, readHeaderTimeout time.Duration) *target {
	t.Helper()
	b := server.NewMemoryBroker(&mcfg)
	t.Cleanup(func() { _ = b.Close() }) // after the hub's cleanup: cleanups run last first
	return serveHub(t, cfg, b, readHeaderTimeout)
}

// alongside starts a second hub over tg's broker, configured by cfg and
// served by server.NewHTTPServer's defaults: for load that measures the
// broker's bounds and must not be cut by the adversaries' tight deadlines.
func (tg *target) alongside(t *testing.T, cfg server.Config) *target {
	t.Helper()
	return serveHub(t, cfg, tg.broker, server.DefaultReadHeaderTimeout)
}

// serveHub serves a Hub over b on a loopback port until t's cleanup.
func serveHub(t *testing.T, cfg server.Config, b *server.MemoryBroker, readHeaderTimeout time.Duration) *target {
	t.Helper()
	cfg.Broker = b
	cfg.Logger = quiet()
	hub, err := server.NewHub(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewHTTPServer(hub.Handler(), quiet())
	srv.ReadHeaderTimeout = readHeaderTimeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		_ = srv.Close()
		<-served
	})
	return &target{hub: hub, broker: b, srv: srv, addr: ln.Addr().String(), url: "http://" + ln.Addr().String()}
}

// metrics scrapes /metrics into "name{labels}" → value.
func (tg *target) metrics(t *testing.T) map[string]int64 {
	t.Helper()
	client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(tg.url + "/metrics")
	if err != nil {
		t.Fatalf("the server stopped answering /metrics: %v", err)
	}
	defer resp.Body.Close()
	out := make(map[string]int64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil { // client_golang writes 1e+06
			out[line[:i]] = int64(v)
		}
	}
	return out
}

// connections is the number of SSE plus WebSocket connections the hub holds.
func (tg *target) connections(t *testing.T) int64 {
	m := tg.metrics(t)
	return m[`duet_connections{wire="sse"}`] + m[`duet_connections{wire="ws"}`]
}

// waitConnections waits until the hub holds want connections and returns
// how long that took.
func (tg *target) waitConnections(t *testing.T, what string, want int64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := tg.connections(t)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: the hub holds %d connections after %v, want %d", what, got, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- raw peers, for what a well-behaved library would not do ----

// rawWS is a hand-written WebSocket client: it can stop reading, send
// frames a library would refuse and never answer pings.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialRawWS performs the opening handshake; status is the HTTP answer.
func dialRawWS(ctx context.Context, addr string, rcvbuf int) (*rawWS, int, error) {
	conn, err := dial(ctx, addr, rcvbuf)
	if err != nil {
		return nil, 0, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(conn, "GET /rt/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key[:]), shared.Protocol)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		conn.Close()
		return nil, resp.StatusCode, nil
	}
	return &rawWS{conn: conn, br: br}, resp.StatusCode, nil
}

const (
	opText   = 0x1
	opBinary = 0x2
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
	_ = r.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err := r.conn.Write(b)
	return err
}

// readFrames reads server frames until within passes or the connection
// ends, answering pings as every live client does, and hands each data or
// close frame to fn until fn returns false.
func (r *rawWS) readFrames(within time.Duration, fn func(op byte, payload []byte) bool) {
	_ = r.conn.SetReadDeadline(time.Now().Add(within))
	defer r.conn.SetReadDeadline(time.Time{})
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r.br, hdr[:2]); err != nil {
			return
		}
		op := hdr[0] & 0x0F
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(r.br, hdr[:2]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(r.br, hdr[:8]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		if n > 16<<20 {
			return
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r.br, p); err != nil {
			return
		}
		if op == 0x9 {
			_ = r.writeFrame(0xA, p)
			continue
		}
		if !fn(op, p) {
			return
		}
	}
}

// closeCode reads until the server's close frame and returns its code, or
// -1 when the connection ends without one.
func (r *rawWS) closeCode(within time.Duration) int {
	code := -1
	r.readFrames(within, func(op byte, p []byte) bool {
		if op != 0x8 {
			return true
		}
		code = 1005
		if len(p) >= 2 {
			code = int(binary.BigEndian.Uint16(p))
		}
		return false
	})
	return code
}

// readUntil reads frames until one contains want; false when within passes
// or the connection ends first.
func (r *rawWS) readUntil(within time.Duration, want string) bool {
	found := false
	r.readFrames(within, func(op byte, p []byte) bool {
		found = bytes.Contains(p, []byte(want))
		return !found && op != 0x8
	})
	return found
}

// readAll reads frames until each of wants has been in one, in any
// order, and returns those that never came within the time limit.
func (r *rawWS) readAll(within time.Duration, wants ...string) (missing []string) {
	missing = slices.Clone(wants)
	r.readFrames(within, func(op byte, p []byte) bool {
		missing = slices.DeleteFunc(missing, func(w string) bool { return bytes.Contains(p, []byte(w)) })
		return len(missing) > 0 && op != 0x8
	})
	return missing
}

// errorCode reads frames until an error frame and returns its code; -1
// when within passes or the connection ends first.
func (r *rawWS) errorCode(within time.Duration) int {
	code := -1
	r.readFrames(within, func(op byte, p []byte) bool {
		for line := range bytes.SplitSeq(p, []byte("\n")) {
			if f, err := shared.DecodeFrame(line); err == nil && f.Type == shared.TypeError {
				code = int(f.Code)
				return false
			}
		}
		return op != 0x8
	})
	return code
}

// replies reads frames until one contains end, answering the server's
// pings as a live client does and counting the acks and the error frames
// among them (a WebSocket message may batch several frames,
// one per line); end is "" when one containing end arrived, else why the
// reading stopped (a close frame's code and reason, or the time limit).
func (r *rawWS) replies(within time.Duration, end string) (acks, errs int, ended string) {
	ended = "no close frame, or no frame within " + within.String()
	r.readFrames(within, func(op byte, p []byte) bool {
		if bytes.Contains(p, []byte(`{"type":"ping"}`)) {
			// The heartbeat's protocol-level ping, which a live client
			// answers (unlike the idle adversaries, which must stay silent).
			_ = r.writeFrame(opText, []byte(`{"type":"pong"}`))
		}
		acks += bytes.Count(p, []byte(`"type":"ack"`))
		errs += bytes.Count(p, []byte(`"type":"error"`))
		switch {
		case bytes.Contains(p, []byte(end)):
			ended = ""
			return false
		case op == 0x8:
			ended = "closed: " + closeText(p)
			return false
		}
		return true
	})
	return acks, errs, ended
}

// closeText words a close frame's payload: its code and reason.
func closeText(p []byte) string {
	if len(p) < 2 {
		return "1005"
	}
	return strconv.Itoa(int(binary.BigEndian.Uint16(p))) + " " + string(p[2:])
}

// sseUntil opens an SSE stream at url with Last-Event-ID lastID and reads
// it until a line equals want; false when within passes first.
func sseUntil(ctx context.Context, url, lastID string, within time.Duration, want string) bool {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == want {
			return true
		}
	}
	return false
}

// dial opens a TCP connection, with a small receive buffer when rcvbuf > 0
// so that a client that stops reading fills its path quickly.
func dial(ctx context.Context, addr string, rcvbuf int) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok && rcvbuf > 0 {
		_ = tc.SetReadBuffer(rcvbuf)
	}
	return conn, nil
}

// rawSSE sends GET /rt/sse?query and returns the connection with the status
// read, the stream left unread.
func rawSSE(ctx context.Context, addr, query string, header string, rcvbuf int) (net.Conn, int, error) {
	conn, err := dial(ctx, addr, rcvbuf)
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(conn, "GET /rt/sse?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n", query, addr, header)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), &http.Request{Method: http.MethodGet})
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	return conn, resp.StatusCode, nil
}

// usage is a snapshot of the process's goroutines and heap.
type usage struct {
	goroutines int
	heap       uint64
}

func measure() usage {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc}
}

func (u usage) String() string {
	return strconv.Itoa(u.goroutines) + " goroutines, " + strconv.FormatUint(u.heap>>10, 10) + " KiB live heap"
}

// settle waits until goroutines are back to at most base.goroutines+slack
// and the heap to at most base.heap+heapSlack, and returns what it saw.
func settle(t *testing.T, what string, base usage, slack int, heapSlack uint64) usage {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		u := measure()
		if u.goroutines <= base.goroutines+slack && u.heap <= base.heap+heapSlack {
			return u
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %v, baseline %v (slack %d goroutines, %d KiB)\n%s", what, u, base, slack, heapSlack>>10, buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
