//go:build js && wasm

package js

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
)

// FetchOptions is a fetch request's init. The zero value is a GET with the
// browser's defaults.
type FetchOptions struct {
	// Method defaults to "GET".
	Method string
	// Headers are name, value pairs, sent in order; a repeated name is
	// appended, as Headers.append does. Values are the header's bytes
	// (see ByteString): an id read as UTF-8 goes out as UTF-8.
	Headers [][2]string
	// Body is nil (no body), a string, a []byte, or a Value fetch accepts
	// as a body (Blob, FormData, URLSearchParams, ArrayBuffer...).
	Body any
	// Credentials is "omit", "same-origin" or "include". Defaults to the
	// browser's default, "same-origin".
	Credentials string
	// Mode is "cors", "no-cors" or "same-origin". Defaults to "cors".
	Mode string
	// Cache is a RequestCache value ("no-store", "reload"...). Defaults to
	// the browser's "default".
	Cache string
	// Redirect is "follow", "error" or "manual". Defaults to "follow".
	Redirect string
	// Keepalive lets the request outlive the page.
	Keepalive bool
}

// Response is the answer to Fetch: status and headers, and a body read as a
// stream of chunks.
type Response struct {
	// Status is the HTTP status (0 for an opaque response).
	Status int
	// StatusText is the reason phrase ("" over HTTP/2).
	StatusText string
	// URL is the final URL, after redirects; "" when the browser does not say.
	URL string
	// Redirected reports whether the request was redirected.
	Redirected bool
	// Value is the JavaScript Response.
	Value Value

	ctx     context.Context // the request's; ending it aborts the body too
	stop    func()          // aborts the request and drops the context watch
	reader  Value           // the body's ReadableStreamDefaultReader; undefined when there is no body
	mu      sync.Mutex      // guards eof and closed
	eof     bool
	closed  bool
	headers Value
}

// ErrClosed is returned by Response.Read after Close.
var ErrClosed = errors.New("duet/js: response body closed")

// Fetch starts a fetch of url and waits for the response headers. Ending
// ctx aborts the request through an AbortController, even while the body
// is being read; Fetch and Read then return ctx.Err(). The caller must call
// Response.Close when done with the body.
//
// A network error (DNS, refused connection, CORS failure: the browser does
// not tell them apart) is an *Error named "TypeError". A non-2xx status is
// not an error.
//
// Fetch blocks: call it from a goroutine.
func Fetch(ctx context.Context, url string, opts *FetchOptions) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &FetchOptions{}
	}
	ac := global.Get("AbortController").New()
	init := NewObject()
	if opts.Method != "" {
		init.Set("method", opts.Method)
	}
	if len(opts.Headers) > 0 {
		h := global.Get("Headers").New()
		for _, kv := range opts.Headers {
			if _, err := Call(h, "append", kv[0], ByteString(kv[1])); err != nil {
				err.(*Error).Op = "fetch: header " + kv[0]
				return nil, err
			}
		}
		init.Set("headers", h)
	}
	if opts.Body != nil {
		init.Set("body", ValueOf(opts.Body))
	}
	setString(init, "credentials", opts.Credentials)
	setString(init, "mode", opts.Mode)
	setString(init, "cache", opts.Cache)
	setString(init, "redirect", opts.Redirect)
	if opts.Keepalive {
		init.Set("keepalive", true)
	}
	init.Set("signal", ac.Get("signal"))

	var once sync.Once
	abort := func() { once.Do(func() { ac.Call("abort") }) }
	unwatch := context.AfterFunc(ctx, abort)
	stop := func() { unwatch(); abort() }

	p, err := Call(global, "fetch", url, init)
	if err != nil { // an invalid URL, method or init throws synchronously
		stop()
		err.(*Error).Op = "fetch"
		return nil, err
	}
	v, err := AwaitOp(ctx, "fetch", p)
	if err != nil {
		stop()
		return nil, err
	}
	r := &Response{
		Status:     v.Get("status").Int(),
		StatusText: v.Get("statusText").String(),
		URL:        v.Get("url").String(),
		Redirected: v.Get("redirected").Bool(),
		Value:      v,
		ctx:        ctx,
		stop:       stop,
		headers:    v.Get("headers"),
	}
	if body := v.Get("body"); IsObject(body) {
		r.reader = body.Call("getReader")
	} else {
		r.eof = true
	}
	return r, nil
}

func setString(o Value, name, v string) {
	if v != "" {
		o.Set(name, v)
	}
}

// Header returns the value of the response header name, as bytes (see
// FromByteString), "" when absent.
// Values of a repeated header are joined with ", ", as Headers.get does.
// Cross-origin responses show only the CORS-safelisted headers and those
// the server exposes.
func (r *Response) Header(name string) string {
	v := r.headers.Call("get", name)
	if v.IsNull() {
		return ""
	}
	raw, _ := FromByteString(v.String()) // a Headers value always is one
	return raw
}

// ContentType returns the Content-Type header, as sent.
func (r *Response) ContentType() string { return r.Header("Content-Type") }

// MediaType returns the essence of the Content-Type header: the type and
// subtype, lower-cased, without parameters ("text/event-stream").
func (r *Response) MediaType() string { return MediaType(r.ContentType()) }

// MediaType returns the essence of a Content-Type value, lower-cased and
// without parameters: MediaType("Text/Event-Stream; charset=utf-8") is
// "text/event-stream".
func MediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	b := []byte(strings.Trim(contentType, " \t\r\n"))
	for i, c := range b { // ASCII only, as MIME types compare
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Read waits for the next chunk of the body and returns it, or io.EOF after
// the last one. It returns ctx.Err() once the request's context has ended,
// ErrClosed after Close, and an *Error when the stream fails (a connection
// dropped mid-body is a TypeError). Chunks are as the network delivered
// them: a chunk may hold part of a line or many messages.
//
// Read blocks: call it from a goroutine, one Read at a time.
func (r *Response) Read() ([]byte, error) {
	r.mu.Lock()
	eof, closed := r.eof, r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case eof:
		return nil, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	p, err := Call(r.reader, "read")
	if err != nil {
		return nil, err
	}
	res, err := AwaitOp(r.ctx, "read", p)
	if err != nil {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		return nil, err
	}
	if res.Get("done").Bool() {
		r.mu.Lock()
		r.eof = true
		r.mu.Unlock()
		return nil, io.EOF
	}
	return Bytes(res.Get("value")), nil
}

// ReadAll reads the rest of the body.
func (r *Response) ReadAll() ([]byte, error) {
	var all []byte
	for {
		b, err := r.Read()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, b...)
	}
}

// Close releases the body: it cancels the stream, aborts the request and
// makes a pending or later Read return ErrClosed. It may be called more
// than once, and from a callback.
func (r *Response) Close() {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if already {
		return
	}
	r.stop()
	if IsObject(r.reader) {
		// cancel returns a promise that rejects if the stream already
		// errored; nobody needs to hear about it.
		if p, err := Call(r.reader, "cancel"); err == nil {
			Ignore(p)
		}
	}
}

// noop is a JavaScript function that does nothing, for swallowing promise
// rejections. It lives as long as the program.
var noop = FuncOf(func(Value, []Value) any { return nil })
