package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
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
