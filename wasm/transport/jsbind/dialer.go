//go:build js && wasm

package jsbind

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall/js"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport"
)

// credentials are the headers and query parameters of every request, from
// options.headers and options.params: objects, or functions (sync or
// async) called again on refresh; and the bearer token of options.token.
type credentials struct {
	headersOpt, paramsOpt, tokenOpt js.Value

	mu      sync.Mutex // guards headers, params, token, stale and loaded
	headers [][2]string
	params  [][2]string
	token   string
	stale   bool          // the server refused token: get a new one before the next request
	loaded  chan struct{} // closed after the first load
	once    sync.Once
}

func newCredentials(headers, params, token js.Value) *credentials {
	return &credentials{headersOpt: headers, paramsOpt: params, tokenOpt: token, loaded: make(chan struct{})}
}

// freshToken evaluates options.token (a string, or a function returning one
// or a promise of one) and keeps the answer; "" without the option. Each
// connection attempt calls it, so the page's function decides when to
// fetch a new token.
func (cr *credentials) freshToken(ctx context.Context) (string, error) {
	v := cr.tokenOpt
	if jsw.Nullish(v) {
		return "", nil
	}
	if jsw.IsFunction(v) {
		var r js.Value
		if err := jsw.Try("token", func() { r = v.Invoke() }); err != nil {
			return "", err
		}
		if jsw.IsObject(r) && jsw.IsFunction(r.Get("then")) {
			var err error
			if r, err = jsw.AwaitOp(ctx, "token", r); err != nil {
				return "", err
			}
		}
		v = r
	}
	if v.Type() != js.TypeString || v.String() == "" || strings.ContainsAny(v.String(), "\r\n") {
		return "", bindError("token must be a non-empty string, or a function returning one (or a promise of one)")
	}
	cr.mu.Lock()
	cr.token, cr.stale = v.String(), false
	cr.mu.Unlock()
	return v.String(), nil
}

// currentToken returns the last token, or a fresh one when there is none
// yet or the server refused it.
func (cr *credentials) currentToken(ctx context.Context) (string, error) {
	cr.mu.Lock()
	tok, stale := cr.token, cr.stale
	cr.mu.Unlock()
	if tok != "" && !stale {
		return tok, nil
	}
	return cr.freshToken(ctx)
}

// authHeader appends "Authorization: Bearer <token>" to headers when there
// is a token.
func authHeader(headers [][2]string, token string) [][2]string {
	if token == "" {
		return headers
	}
	return append(headers, [2]string{"Authorization", "Bearer " + token})
}

// tokenFailed reports a token option that failed as a refused connection:
// 4401, so the Conn refreshes and retries with backoff.
func tokenFailed(ev transport.WireEvents, err error) {
	ev.Closed(shared.CodeUnauthorized, "duet/transport: options.token failed: "+err.Error())
}

// load evaluates the options again. It blocks: call it from a goroutine.
func (cr *credentials) load(ctx context.Context) error {
	defer cr.once.Do(func() { close(cr.loaded) })
	h, err1 := pairs(ctx, cr.headersOpt, "headers")
	if err1 == nil {
		h, err1 = headerBytes(h)
	}
	p, err2 := pairs(ctx, cr.paramsOpt, "params")
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if err1 == nil {
		cr.headers = h
	}
	if err2 == nil {
		cr.params = p
	}
	if err1 != nil {
		return err1
	}
	return err2
}

// get waits for the first load and returns the current values.
func (cr *credentials) get(ctx context.Context) (headers, params [][2]string, err error) {
	select {
	case <-cr.loaded:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.headers, cr.params, nil
}

// headerBytes turns header values from JavaScript strings into the bytes
// fetch sends for them (a value is a ByteString: one byte per character),
// refusing, as fetch does, a character above U+00FF.
func headerBytes(h [][2]string) ([][2]string, error) {
	for i, kv := range h {
		raw, ok := jsw.FromByteString(kv[1])
		if !ok {
			return nil, bindError("headers: the value of " + kv[0] + " has a character above U+00FF, which no HTTP header can carry")
		}
		h[i][1] = raw
	}
	return h, nil
}

// pairs evaluates an option that is an object of strings, or a function
// returning one or a promise of one.
func pairs(ctx context.Context, v js.Value, name string) ([][2]string, error) {
	if jsw.IsFunction(v) {
		var r js.Value
		if err := jsw.Try(name, func() { r = v.Invoke() }); err != nil {
			return nil, err
		}
		if jsw.IsObject(r) && jsw.IsFunction(r.Get("then")) {
			var err error
			if r, err = jsw.AwaitOp(ctx, name, r); err != nil {
				return nil, err
			}
		}
		v = r
	}
	if jsw.Nullish(v) {
		return nil, nil
	}
	if !jsw.IsObject(v) {
		return nil, bindError(name + " must be an object, or a function returning one")
	}
	entries := js.Global().Get("Object").Call("entries", v)
	out := make([][2]string, 0, entries.Length())
	for i := 0; i < entries.Length(); i++ {
		kv := entries.Index(i)
		out = append(out, [2]string{kv.Index(0).String(), js.Global().Call("String", kv.Index(1)).String()})
	}
	return out, nil
}

// withParams appends the query parameters to url.
func withParams(url string, params [][2]string) string {
	if len(params) == 0 {
		return url
	}
	enc := js.Global().Get("encodeURIComponent")
	var b strings.Builder
	b.WriteString(url)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, kv := range params {
		b.WriteString(sep)
		b.WriteString(enc.Invoke(kv[0]).String())
		b.WriteByte('=')
		b.WriteString(enc.Invoke(kv[1]).String())
		sep = "&"
	}
	return b.String()
}

// dialer is the transport.Dialer of the browser: WebSocket and fetch.
type dialer struct {
	ctx         context.Context // ends with the connection object
	creds       *credentials
	credentials string // fetch's credentials mode
}

// DialWebSocket implements transport.Dialer.
func (d *dialer) DialWebSocket(url string, ev transport.WireEvents) transport.Wire {
	w := &wsWire{}
	go func() {
		_, params, err := d.creds.get(d.ctx)
		if err != nil {
			return
		}
		token, err := d.creds.freshToken(d.ctx)
		if err != nil {
			if d.ctx.Err() == nil {
				tokenFailed(ev, err)
			}
			return
		}
		// A browser cannot set headers on a WebSocket: the token rides in
		// the subprotocol list, and the server selects duet.v1 only.
		protocols := []string{shared.Protocol}
		if token != "" {
			protocols = append(protocols, shared.BearerProtocol(token))
		}
		ws, err := jsw.NewWebSocket(withParams(url, params), protocols...)
		if err != nil {
			ev.Closed(shared.CodeAbnormal, err.Error())
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			_ = ws.Close(1000, "")
			return
		}
		w.ws = ws
		w.removes = []func(){
			ws.OnOpen(ev.Opened),
			ws.OnMessage(func(m jsw.Message) {
				if m.Binary {
					ev.ReceivedBinary(m.Data)
				} else {
					ev.Received(m.Data)
				}
			}),
			ws.OnClose(func(ce jsw.CloseEvent) {
				w.removeListeners()
				ev.Closed(shared.Code(ce.Code), ce.Reason)
			}),
		}
	}()
	return w
}

// wsWire is a browser WebSocket as a transport.Wire.
type wsWire struct {
	mu      sync.Mutex // guards all
	ws      *jsw.WebSocket
	removes []func()
	closed  bool
}

func (w *wsWire) removeListeners() {
	w.mu.Lock()
	rs := w.removes
	w.removes = nil
	w.mu.Unlock()
	for _, r := range rs {
		r()
	}
}

func (w *wsWire) Send(p []byte) error {
	ws, err := w.socket()
	if err != nil {
		return err
	}
	return ws.SendText(string(p))
}

func (w *wsWire) SendBinary(p []byte) error {
	ws, err := w.socket()
	if err != nil {
		return err
	}
	return ws.SendBinary(p)
}

// socket returns the open WebSocket.
func (w *wsWire) socket() (*jsw.WebSocket, error) {
	w.mu.Lock()
	ws := w.ws
	w.mu.Unlock()
	if ws == nil {
		return nil, errors.New("duet/transport: websocket not open")
	}
	return ws, nil
}

func (w *wsWire) Close(code shared.Code, reason string) {
	w.mu.Lock()
	w.closed = true
	ws := w.ws
	w.mu.Unlock()
	w.removeListeners()
	if ws != nil {
		_ = ws.Close(int(code), reason)
	}
}

// DialSSE implements transport.Dialer: a streaming fetch.
func (d *dialer) DialSSE(url string, ev transport.WireEvents) transport.Wire {
	ctx, cancel := context.WithCancel(d.ctx)
	go func() {
		defer cancel()
		headers, params, err := d.creds.get(ctx)
		if err != nil {
			return
		}
		token, err := d.creds.freshToken(ctx)
		if err != nil {
			if ctx.Err() == nil {
				tokenFailed(ev, err)
			}
			return
		}
		resp, err := jsw.Fetch(ctx, withParams(url, params), &jsw.FetchOptions{
			Headers:     authHeader(append([][2]string{{"Accept", "text/event-stream"}}, headers...), token),
			Cache:       "no-store",
			Credentials: d.credentials,
		})
		if ctx.Err() != nil {
			if resp != nil {
				resp.Close()
			}
			return // closed by the Conn: report nothing
		}
		if err != nil {
			ev.Closed(shared.CodeAbnormal, err.Error())
			return
		}
		defer resp.Close()
		if resp.Status != 200 {
			body, _ := resp.ReadAll()
			e := transport.CodeOfHTTP(resp.Status, body)
			ev.Closed(e.Code, e.Message)
			return
		}
		if mt := resp.MediaType(); mt != "text/event-stream" {
			ev.Closed(shared.CodeInternalError, "duet/transport: the SSE endpoint answered "+mt+", not text/event-stream")
			return
		}
		ev.Opened()
		for {
			// Read starts a read even when ctx has ended, and leaves its
			// promise unhandled when the abort then rejects it.
			if ctx.Err() != nil {
				return
			}
			chunk, err := resp.Read()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				reason := "duet/transport: the event stream ended"
				if err != io.EOF {
					reason = err.Error()
				}
				ev.Closed(shared.CodeAbnormal, reason)
				return
			}
			if len(chunk) > 0 {
				ev.Received(chunk)
			}
		}
	}()
	return sseWire(cancel)
}

// sseWire aborts its fetch on Close.
type sseWire context.CancelFunc

func (w sseWire) Send([]byte) error                { return errors.New("duet/transport: cannot send on SSE") }
func (w sseWire) SendBinary([]byte) error          { return errors.New("duet/transport: cannot send on SSE") }
func (w sseWire) Close(code shared.Code, _ string) { w() }

// Post implements transport.Dialer.
func (d *dialer) Post(url string, body []byte, idempotencyKey string, done func(int, []byte, error)) {
	var hs [][2]string
	if idempotencyKey != "" {
		hs = [][2]string{{"Idempotency-Key", idempotencyKey}}
	}
	d.request("POST", url, hs, string(body), done)
}

// Get implements transport.Dialer.
func (d *dialer) Get(url string, done func(int, []byte, error)) {
	d.request("GET", url, nil, nil, done)
}

// request sends an HTTP request with the connection's credentials and
// extra headers hs, and calls done with the answer.
// body is nil (GET has none) or a string.
func (d *dialer) request(method, url string, hs [][2]string, body any, done func(int, []byte, error)) {
	go func() {
		headers, params, err := d.creds.get(d.ctx)
		if err != nil {
			done(0, nil, err)
			return
		}
		token, err := d.creds.currentToken(d.ctx)
		if err != nil {
			done(0, nil, errors.New("options.token failed: "+err.Error()))
			return
		}
		all := append([][2]string{}, hs...)
		if method == "POST" {
			all = append(all, [2]string{"Content-Type", "application/json"})
		}
		resp, err := jsw.Fetch(d.ctx, withParams(url, params), &jsw.FetchOptions{
			Method:      method,
			Headers:     authHeader(append(all, headers...), token),
			Body:        body,
			Cache:       "no-store",
			Credentials: d.credentials,
		})
		if err != nil {
			done(0, nil, err)
			return
		}
		b, err := resp.ReadAll()
		resp.Close()
		if err != nil {
			done(0, nil, err)
			return
		}
		done(resp.Status, b, nil)
	}()
}

// Refresh implements transport.Dialer: headers and params are evaluated
// again, and the token before the next request (a connection attempt
// always gets a fresh one).
func (d *dialer) Refresh(done func(error)) {
	d.creds.mu.Lock()
	d.creds.stale = true
	d.creds.mu.Unlock()
	go func() { done(d.creds.load(d.ctx)) }()
}
