package auth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/wasm/eventsource"
	"github.com/duet-rt/duet/wasm/transport"
	"github.com/golang-jwt/jwt/v5"
)

// End to end: a hub authenticating with real JWTs, tokens that expire
// while connections are open, and the clients the browser runs — the
// transport state machine (Duet.connect) and the EventSource polyfill —
// driven here over net/http and coder/websocket instead of the browser's
// WebSocket and fetch. The clients refresh their token and resume; the
// test counts every message.
//
// (The test imports wasm/... packages, which production code of server
// never does: they are pure Go, and this is where both ends meet.)

const waitTimeout = 20 * time.Second

// tokenMint issues HS256 tokens for alice that live ttl, and counts them.
type tokenMint struct {
	t   testing.TB
	ttl time.Duration

	mu     sync.Mutex // guards issued
	issued int
}

func (m *tokenMint) token() string {
	m.mu.Lock()
	m.issued++
	m.mu.Unlock()
	c := claims("alice", 0)
	// exp has a precision of one second: the token lives between ttl-1s
	// and ttl.
	c["exp"] = time.Now().Add(m.ttl).Unix()
	return sign(m.t, jwt.SigningMethodHS256, hsSecret, "", c)
}

func (m *tokenMint) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.issued
}

// authHub serves a hub that authenticates with j's tokens.
func authHub(t *testing.T) (*server.Hub, *httptest.Server) {
	t.Helper()
	j := mustJWT(t, auth.JWTConfig{HS256Secret: hsSecret, Leeway: -1})
	return serveHub(t, &server.Config{
		Authenticate: j.Authenticate,
		SSERetry:     100 * time.Millisecond,
		Heartbeat:    time.Second,
		WriteTimeout: 500 * time.Millisecond,
	})
}

// serveHub serves a hub with cfg until the test ends.
func serveHub(t *testing.T, cfg *server.Config) (*server.Hub, *httptest.Server) {
	t.Helper()
	hub, err := server.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	return hub, srv
}

// publishEvery publishes n messages on channel, one per interval, and
// returns their ids in order.
func publishEvery(t *testing.T, hub *server.Hub, channel string, n int, every time.Duration) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		ids := make([]string, 0, n)
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			id, err := hub.Publish(ctx, channel, "", []byte(strconv.Itoa(i)))
			cancel()
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
				break
			}
			ids = append(ids, id.String())
			time.Sleep(every)
		}
		out <- ids
	}()
	return out
}

func TestExpiryRefreshResumeTransport(t *testing.T) {
	for _, mode := range []transport.Mode{transport.ModeWebSocket, transport.ModeSSE} {
		name := map[transport.Mode]string{transport.ModeWebSocket: "websocket", transport.ModeSSE: "sse"}[mode]
		t.Run(name, func(t *testing.T) {
			hub, srv := authHub(t)
			mint := &tokenMint{t: t, ttl: 2 * time.Second}
			d := newGoDialer(mint.token)
			defer d.close()
			obs := newCollector()
			// Start from an id, so that the connection resumes from it:
			// "open" comes with the server's hello, maybe before the
			// subscription is in place, and a live-only start could miss
			// the first message.
			start, err := hub.Publish(context.Background(), "user:alice", "", []byte(`"start"`))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := transport.NewConn(srv.URL, &transport.Options{
				Mode:        mode,
				Channels:    []string{"user:alice"},
				LastEventID: start.String(),
				Backoff:     shared.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
			}, transport.Env{Dialer: d, Observer: obs})
			if err != nil {
				t.Fatal(err)
			}
			conn.Start()
			defer conn.Close()
			obs.waitOpen(t)

			// Publish for about four seconds: at least two tokens expire
			// meanwhile and their connections are closed with 4401.
			const n = 200
			ids := <-publishEvery(t, hub, "user:alice", n, 20*time.Millisecond)
			got := obs.waitMessages(t, len(ids))
			if strings.Join(got, ",") != strings.Join(ids, ",") {
				t.Fatalf("received %d messages, want the %d published, in order, no duplicates:\ngot  %v\nwant %v", len(got), len(ids), got, ids)
			}
			if gaps := obs.gapCount(); gaps != 0 {
				t.Fatalf("%d gap notices: the resume was not exact", gaps)
			}
			closes := expiries(t, srv)
			if closes < 2 {
				t.Fatalf("%d connections closed with 4401, want at least 2 (tokens issued: %d)", closes, mint.count())
			}
			if mode == transport.ModeWebSocket && d.closedWith(shared.CodeUnauthorized) != closes {
				t.Fatalf("the client saw %d closes with 4401, the server made %d", d.closedWith(shared.CodeUnauthorized), closes)
			}
			if mint.count() < closes+1 {
				t.Fatalf("%d tokens for %d refreshes: each reconnection must get a fresh token", mint.count(), closes)
			}
			// Publishing through the connection uses the current token.
			done := make(chan error, 1)
			conn.Publish("user:alice", "", []byte(`"last"`), func(_ string, err error) { done <- err })
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("publish: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("publish not acknowledged")
			}
			t.Logf("%s: %d messages, %d closes with 4401, %d tokens", name, len(got), closes, mint.count())
		})
	}
}

// The EventSource polyfill, given a headers function, refreshes its token
// on each reconnection: the server ends the stream when the token expires
// (duet.close, which a plain EventSource sees as the end of the stream),
// the polyfill reconnects with Last-Event-ID and a fresh token.
func TestExpiryRefreshResumeEventSource(t *testing.T) {
	hub, srv := authHub(t)
	mint := &tokenMint{t: t, ttl: 2 * time.Second}
	h := &esHandler{opened: make(chan struct{}, 16), msgs: make(chan string, 1024)}
	src, err := eventsource.New(srv.URL+"/rt/sse?channel=user:alice", httpDialer{}, h, &eventsource.Options{
		Headers: func(context.Context) ([][2]string, error) {
			return [][2]string{{"Authorization", "Bearer " + mint.token()}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- src.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	select {
	case <-h.opened:
	case <-time.After(waitTimeout):
		t.Fatal("EventSource did not open")
	}
	ids := <-publishEvery(t, hub, "user:alice", 200, 20*time.Millisecond)
	for i, want := range ids {
		select {
		case got := <-h.msgs:
			if got != want {
				t.Fatalf("message %d: id %s, want %s", i, got, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("message %d (%s) never came", i, want)
		}
	}
	if opens, n := len(h.opened)+1, expiries(t, srv); n < 2 || opens < n+1 || mint.count() < opens {
		t.Fatalf("%d connections, %d closed by expiry, %d tokens: want two expiries or more, each followed by a connection with a fresh token", opens, n, mint.count())
	}
}

// expiries reads how many connections the server closed because their
// credentials expired.
func expiries(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "duet_credential_expiries_total "); ok {
			n, err := strconv.ParseFloat(v, 64) // client_golang writes 1e+06
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("no duet_credential_expiries_total in /metrics")
	return 0
}

type esHandler struct {
	opened chan struct{}
	msgs   chan string
}

func (h *esHandler) Opened(string) { h.opened <- struct{}{} }
func (h *esHandler) Message(ev shared.SSEEvent) {
	if ev.Type == "message" {
		h.msgs <- ev.LastEventID
	}
}
func (h *esHandler) Error(eventsource.ReadyState, error) {}

// httpDialer is the polyfill's Dialer over net/http.
type httpDialer struct{}

func (httpDialer) Dial(ctx context.Context, req *eventsource.Request) (*eventsource.Response, error) {
	r, err := http.NewRequestWithContext(ctx, req.Method, req.URL, nil)
	if err != nil {
		return nil, err
	}
	for _, kv := range req.Headers {
		r.Header.Add(kv[0], kv[1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, err
	}
	return &eventsource.Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: &httpBody{r: resp.Body}}, nil
}

type httpBody struct{ r io.ReadCloser }

func (b *httpBody) Read() ([]byte, error) {
	buf := make([]byte, 32<<10)
	n, err := b.r.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, err
}
func (b *httpBody) Close() { _ = b.r.Close() }

// ---- a transport.Dialer over net/http and coder/websocket ----

// goDialer does what package jsbind does in the browser: a fresh token
// for each connection attempt, sent in the WebSocket subprotocol list or
// the Authorization header.
type goDialer struct {
	token  func() string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards closes and last
	closes map[shared.Code]int
	last   string // the token of the last connection, for posts
}

func newGoDialer(token func() string) *goDialer {
	ctx, cancel := context.WithCancel(context.Background())
	return &goDialer{token: token, ctx: ctx, cancel: cancel, closes: make(map[shared.Code]int)}
}

func (d *goDialer) close() {
	d.cancel()
	d.wg.Wait()
}

func (d *goDialer) freshToken() string {
	tok := d.token()
	d.mu.Lock()
	d.last = tok
	d.mu.Unlock()
	return tok
}

func (d *goDialer) closed(ev transport.WireEvents, code shared.Code, reason string) {
	d.mu.Lock()
	d.closes[code]++
	d.mu.Unlock()
	ev.Closed(code, reason)
}

func (d *goDialer) closedWith(code shared.Code) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closes[code]
}

type goWire struct {
	cancel context.CancelFunc
	mu     sync.Mutex // guards ws
	ws     *websocket.Conn
}

func (w *goWire) Send(p []byte) error { return w.write(websocket.MessageText, p) }

func (w *goWire) SendBinary(p []byte) error { return w.write(websocket.MessageBinary, p) }

func (w *goWire) write(typ websocket.MessageType, p []byte) error {
	w.mu.Lock()
	ws := w.ws
	w.mu.Unlock()
	if ws == nil {
		return errors.New("not open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ws.Write(ctx, typ, p)
}

func (w *goWire) Close(shared.Code, string) { w.cancel() }

func (d *goDialer) DialWebSocket(url string, ev transport.WireEvents) transport.Wire {
	ctx, cancel := context.WithCancel(d.ctx)
	w := &goWire{cancel: cancel}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			Subprotocols: []string{shared.Protocol, shared.BearerProtocol(d.freshToken())},
		})
		if err != nil {
			if ctx.Err() == nil {
				d.closed(ev, shared.CodeAbnormal, err.Error())
			}
			return
		}
		defer ws.CloseNow()
		w.mu.Lock()
		w.ws = ws
		w.mu.Unlock()
		ev.Opened()
		for {
			typ, p, err := ws.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return // closed by the Conn
				}
				code := shared.Code(websocket.CloseStatus(err))
				if code < 0 || code == 0 {
					code = shared.CodeAbnormal
				}
				d.closed(ev, code, err.Error())
				return
			}
			if typ == websocket.MessageBinary {
				ev.ReceivedBinary(p)
			} else {
				ev.Received(p)
			}
		}
	}()
	return w
}

func (d *goDialer) DialSSE(url string, ev transport.WireEvents) transport.Wire {
	ctx, cancel := context.WithCancel(d.ctx)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+d.freshToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				d.closed(ev, shared.CodeAbnormal, err.Error())
			}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			e := transport.CodeOfHTTP(resp.StatusCode, body)
			d.closed(ev, e.Code, e.Message)
			return
		}
		ev.Opened()
		for {
			buf := make([]byte, 32<<10)
			n, err := resp.Body.Read(buf)
			if n > 0 {
				ev.Received(buf[:n])
			}
			if err != nil {
				if ctx.Err() == nil {
					d.closed(ev, shared.CodeAbnormal, "stream ended")
				}
				return
			}
		}
	}()
	return &goWire{cancel: cancel}
}

func (d *goDialer) Get(url string, done func(int, []byte, error)) {
	d.Post(url, nil, "", done)
}

func (d *goDialer) Post(url string, body []byte, key string, done func(int, []byte, error)) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.mu.Lock()
		tok := d.last
		d.mu.Unlock()
		method := http.MethodPost
		if body == nil {
			method = http.MethodGet
		}
		req, _ := http.NewRequestWithContext(d.ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done(0, nil, err)
			return
		}
		defer resp.Body.Close()
		p, err := io.ReadAll(resp.Body)
		done(resp.StatusCode, p, err)
	}()
}

func (d *goDialer) Refresh(done func(error)) {
	d.freshToken()
	done(nil)
}

// collector is a transport.Observer that keeps what the application sees.
type collector struct {
	mu    sync.Mutex // guards ids, gaps, open
	ids   []string
	gaps  int
	open  chan struct{}
	more  chan struct{} // signalled on every message
	first sync.Once
}

func newCollector() *collector {
	return &collector{open: make(chan struct{}), more: make(chan struct{}, 1)}
}

func (c *collector) StateChanged(s transport.State, _ transport.Kind) {
	if s == transport.StateOpen {
		c.first.Do(func() { close(c.open) })
	}
}

func (c *collector) Message(e *shared.Envelope) {
	c.mu.Lock()
	c.ids = append(c.ids, e.ID)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) Gap(*transport.Gap) {
	c.mu.Lock()
	c.gaps++
	c.mu.Unlock()
}

func (c *collector) Error(*shared.Error, bool) {}

func (c *collector) gapCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gaps
}

func (c *collector) waitOpen(t *testing.T) {
	t.Helper()
	select {
	case <-c.open:
	case <-time.After(waitTimeout):
		t.Fatal("the connection never opened")
	}
}

// waitMessages waits for n messages, or a bounded while, and returns
// those received.
func (c *collector) waitMessages(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.ids...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			return got
		}
	}
}
