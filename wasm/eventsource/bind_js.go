//go:build js && wasm

package eventsource

import (
	"context"
	"math"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// The browser binding. Duet's loader (web/client/static/duet.js) defines the
// JavaScript EventSource class, a real EventTarget subclass that owns the
// attributes and dispatches real MessageEvents; each instance drives a
// Source through two functions, which wasm/cmd/duet exports:
//
//	id = open(url, withCredentials, init, emit)   // url absolute; init the constructor's dictionary
//	close(id)
//
// and the Source reports back through emit, never before open has
// returned (the connection starts in a microtask) and never after close(id):
//
//	emit(0, url)                        // open: the state is OPEN; url is the stream's final URL
//	emit(1, type, data, lastEventId)    // a message event
//	emit(2, readyState, reason)         // error: readyState is CONNECTING (reconnecting) or CLOSED (failed)
//
// Open's error is a TypeError for a bad extra in init.

// Emitted kinds.
const (
	emitOpen    = 0
	emitMessage = 1
	emitError   = 2
)

var (
	sourcesMu sync.Mutex // guards sources and nextID
	sources   = map[int]*Source{}
	nextID    = 1
)

// OpenJS is open(url, withCredentials, init, emit).
func OpenJS(_ js.Value, args []js.Value) (any, error) {
	url := jsw.Arg(args, 0)
	emit := jsw.Arg(args, 3)
	if url.Type() != jsw.TypeString || !jsw.IsFunction(emit) {
		return nil, jsw.TypeError("duet/eventsource: open(url string, withCredentials, init, emit function)")
	}
	opts, err := parseInit(jsw.Arg(args, 2))
	if err != nil {
		return nil, err
	}
	opts.WithCredentials = jsw.Arg(args, 1).Truthy()
	s, err := New(url.String(), fetchDialer{}, jsHandler{emit}, opts)
	if err != nil {
		return nil, jsw.TypeError(err.Error())
	}
	sourcesMu.Lock()
	id := nextID
	nextID++
	sources[id] = s
	sourcesMu.Unlock()
	// Start once the constructor has returned, as the browser's fetch
	// starts in parallel: a goroutine started here would run first.
	jsw.QueueMicrotask(func() { go run(id, s) })
	return id, nil
}

// run runs s until it ends, then forgets it.
func run(id int, s *Source) {
	defer func() {
		sourcesMu.Lock()
		delete(sources, id)
		sourcesMu.Unlock()
		if r := recover(); r != nil {
			// A broken emit must not take the whole program down.
			s.Close()
			reportPanic(r)
		}
	}()
	s.Run(context.Background())
}

// CloseJS is close(id). Closing an unknown or finished source does nothing.
func CloseJS(_ js.Value, args []js.Value) (any, error) {
	id := jsw.Arg(args, 0)
	if id.Type() != js.TypeNumber {
		return nil, jsw.TypeError("duet/eventsource: close(id number)")
	}
	sourcesMu.Lock()
	s := sources[id.Int()]
	delete(sources, id.Int())
	sourcesMu.Unlock()
	if s != nil {
		s.Close()
	}
	return nil, nil
}

// OpenSources returns how many sources are running, for tests.
func OpenSources() int {
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	return len(sources)
}

func reportPanic(r any) {
	if c := jsw.Global().Get("console"); jsw.IsObject(c) {
		c.Call("error", jsw.NewError(jsw.PanicError(r)))
	}
}

// jsHandler forwards a Source's events to the class's emit function.
type jsHandler struct{ emit js.Value }

func (h jsHandler) Opened(url string) { h.emit.Invoke(emitOpen, url) }

func (h jsHandler) Message(ev shared.SSEEvent) {
	h.emit.Invoke(emitMessage, ev.Type, ev.Data, ev.LastEventID)
}

func (h jsHandler) Error(state ReadyState, err error) {
	h.emit.Invoke(emitError, int(state), err.Error())
}

// fetchDialer opens connections with fetch, as a browser's EventSource
// does: CORS mode, no cache, credentials by withCredentials.
type fetchDialer struct{}

func (fetchDialer) Dial(ctx context.Context, req *Request) (*Response, error) {
	creds := "same-origin"
	if req.WithCredentials {
		creds = "include"
	}
	r, err := jsw.Fetch(ctx, req.URL, &jsw.FetchOptions{
		Method:      req.Method,
		Headers:     req.Headers,
		Body:        req.Body,
		Credentials: creds,
		Mode:        "cors",
		Cache:       "no-store",
	})
	if err != nil {
		return nil, err
	}
	return &Response{Status: r.Status, ContentType: r.ContentType(), URL: r.URL, Body: r}, nil
}

// parseInit reads the polyfill's extras from the constructor's dictionary;
// the native EventSource ignores them.
//
//	{
//	  withCredentials: false,
//	  headers: {…} | [[name, value]…] | Headers | () => HeadersInit | async () => HeadersInit,
//	  method: "GET", body: BodyInit,
//	  lastEventId: "",
//	  reconnectionTime: 3000,          // ms, until the stream sends retry
//	  backoff: true | {initialMs, maxMs, multiplier, resetAfterMs},
//	  heartbeatTimeout: 0,             // ms; 0 disables
//	  maxLineBytes: 0, maxEventBytes: 0,
//	}
func parseInit(init js.Value) (*Options, error) {
	opts := &Options{}
	if jsw.Nullish(init) {
		return opts, nil
	}
	if !jsw.IsObject(init) {
		return nil, jsw.TypeError("duet/eventsource: the options must be an object")
	}
	var err error
	if m := init.Get("method"); !m.IsUndefined() {
		if m.Type() != jsw.TypeString || m.String() == "" {
			return nil, jsw.TypeError("duet/eventsource: method must be a non-empty string")
		}
		opts.Method = m.String()
	}
	if b := init.Get("body"); !jsw.Nullish(b) {
		opts.Body = b
	}
	if id := init.Get("lastEventId"); !jsw.Nullish(id) {
		opts.LastEventID = jsStringOf(id)
	}
	if opts.Headers, err = parseHeaders(init.Get("headers")); err != nil {
		return nil, err
	}
	if opts.ReconnectDelay, err = msOption(init, "reconnectionTime"); err != nil {
		return nil, err
	}
	if opts.HeartbeatTimeout, err = msOption(init, "heartbeatTimeout"); err != nil {
		return nil, err
	}
	if opts.MaxLineBytes, err = intOption(init, "maxLineBytes"); err != nil {
		return nil, err
	}
	if opts.MaxEventBytes, err = intOption(init, "maxEventBytes"); err != nil {
		return nil, err
	}
	if opts.Backoff, err = parseBackoff(init.Get("backoff")); err != nil {
		return nil, err
	}
	return opts, nil
}

func parseBackoff(v js.Value) (*shared.Backoff, error) {
	switch {
	case jsw.Nullish(v) || v.Type() == js.TypeBoolean && !v.Bool():
		return nil, nil
	case v.Type() == js.TypeBoolean:
		return &shared.Backoff{}, nil
	case !jsw.IsObject(v):
		return nil, jsw.TypeError("duet/eventsource: backoff must be true or an object")
	}
	b := &shared.Backoff{}
	var err error
	if b.Initial, err = msOption(v, "initialMs"); err != nil {
		return nil, err
	}
	if b.Max, err = msOption(v, "maxMs"); err != nil {
		return nil, err
	}
	if b.ResetAfter, err = msOption(v, "resetAfterMs"); err != nil {
		return nil, err
	}
	if m := v.Get("multiplier"); !m.IsUndefined() {
		if m.Type() != js.TypeNumber || !(m.Float() >= 1) || math.IsInf(m.Float(), 0) {
			return nil, jsw.TypeError("duet/eventsource: backoff.multiplier must be a number ≥ 1")
		}
		b.Multiplier = m.Float()
	}
	return b, nil
}

// msOption reads o[name], a duration in milliseconds: a finite number ≥ 0,
// or undefined for zero.
func msOption(o js.Value, name string) (time.Duration, error) {
	v := o.Get(name)
	if v.IsUndefined() {
		return 0, nil
	}
	f := 0.0
	if v.Type() == js.TypeNumber {
		f = v.Float()
	}
	if v.Type() != js.TypeNumber || !(f >= 0) || f > 1e12 {
		return 0, jsw.TypeError("duet/eventsource: " + name + " must be a number of milliseconds ≥ 0")
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}

// intOption reads o[name], a whole number ≥ 0, or undefined for zero.
func intOption(o js.Value, name string) (int, error) {
	v := o.Get(name)
	if v.IsUndefined() {
		return 0, nil
	}
	if v.Type() != js.TypeNumber || !(v.Float() >= 0) || v.Float() > 1<<31 || v.Float() != math.Trunc(v.Float()) {
		return 0, jsw.TypeError("duet/eventsource: " + name + " must be a whole number ≥ 0")
	}
	return v.Int(), nil
}

// parseHeaders turns the headers option into Options.Headers: a static
// HeadersInit is checked and converted once; a function is called before
// every attempt, and may return a promise.
func parseHeaders(v js.Value) (func(context.Context) ([][2]string, error), error) {
	if jsw.Nullish(v) {
		return nil, nil
	}
	if jsw.IsFunction(v) {
		return func(ctx context.Context) ([][2]string, error) {
			r, err := jsw.Invoke(v)
			if err != nil {
				return nil, err
			}
			if jsw.IsObject(r) && jsw.IsFunction(r.Get("then")) {
				if r, err = jsw.AwaitOp(ctx, "headers", r); err != nil {
					return nil, err
				}
			}
			if jsw.Nullish(r) {
				return nil, nil
			}
			return headerPairs(r)
		}, nil
	}
	pairs, err := headerPairs(v)
	if err != nil {
		return nil, jsw.TypeError("duet/eventsource: headers: " + err.Error())
	}
	return func(context.Context) ([][2]string, error) { return pairs, nil }, nil
}

// headerPairs converts a HeadersInit (an object, an array of pairs, a
// Headers) with the browser's own rules, through new Headers(v).
func headerPairs(v js.Value) ([][2]string, error) {
	h, err := jsw.New(jsw.Global().Get("Headers"), v)
	if err != nil {
		return nil, err
	}
	entries := jsw.Global().Get("Array").Call("from", h)
	pairs := make([][2]string, entries.Length())
	for i := range pairs {
		e := entries.Index(i)
		// new Headers checked that the value is a ByteString.
		value, _ := jsw.FromByteString(e.Index(1).String())
		pairs[i] = [2]string{e.Index(0).String(), value}
	}
	return pairs, nil
}

// jsStringOf is JavaScript's String(v).
func jsStringOf(v js.Value) string {
	if v.Type() == jsw.TypeString {
		return v.String()
	}
	if v.Type() == js.TypeNumber {
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return jsw.Global().Call("String", v).String()
}
