package eventsource

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rt/duet/shared"
)

// ReadyState is an EventSource's readyState.
type ReadyState int32

// The ready states, with the values of EventSource.CONNECTING, OPEN and
// CLOSED.
const (
	Connecting ReadyState = 0
	Open       ReadyState = 1
	Closed     ReadyState = 2
)

func (s ReadyState) String() string {
	switch s {
	case Connecting:
		return "CONNECTING"
	case Open:
		return "OPEN"
	case Closed:
		return "CLOSED"
	}
	return "ReadyState(" + strconv.Itoa(int(s)) + ")"
}

// DefaultReconnectDelay is the reconnection time until a stream sets one
// with a retry field: Chromium's, so the polyfill waits as long as the
// native EventSource it stands in for.
const DefaultReconnectDelay = 3 * time.Second

// Request is one connection attempt, as a Dialer sends it.
type Request struct {
	URL    string
	Method string // "GET" unless Options.Method says otherwise
	// Headers are name, value pairs: Accept: text/event-stream, then those
	// of Options.Headers, then Last-Event-ID when the last event ID is not
	// empty.
	Headers [][2]string
	// Body is Options.Body, passed through untouched.
	Body any
	// WithCredentials asks for cookies and HTTP authentication on
	// cross-origin requests (fetch's credentials: "include").
	WithCredentials bool
}

// Response is what a Dialer got back: the status line facts the
// connection rules look at and the body.
type Response struct {
	Status      int
	ContentType string
	// URL is the final URL, after redirects. Empty means the request's.
	URL  string
	Body Body
}

// Body is a response body read as a stream of chunks.
type Body interface {
	// Read waits for the next chunk and returns it, or io.EOF after the
	// last one. It returns an error once the context given to
	// Dialer.Open has ended.
	Read() ([]byte, error)
	// Close releases the body and its connection. It may be called more
	// than once.
	Close()
}

// Dialer opens connections: fetch in the browser, net/http in tests.
type Dialer interface {
	// Dial sends req and waits for the response headers. Ending ctx aborts
	// the request, body included. Any error is a network error, which the
	// Source answers by reconnecting.
	Dial(ctx context.Context, req *Request) (*Response, error)
}

// Handler receives what an EventSource dispatches. Its methods are called
// from the goroutine running Source.Run, one at a time, never while a
// Source lock is held: they may call Source.Close.
type Handler interface {
	// Opened announces the connection; the state is Open. url is the final
	// URL of the stream, whose origin is the origin of the messages.
	Opened(url string)
	// Message dispatches one event.
	Message(ev shared.SSEEvent)
	// Error reports a lost or refused connection. state is Connecting when
	// the Source will reconnect, Closed when it failed for good; err says
	// why (the browser's error event does not, but it helps debugging).
	Error(state ReadyState, err error)
}

// Options configure a Source. The zero value is a plain EventSource.
type Options struct {
	// WithCredentials is EventSource's withCredentials.
	WithCredentials bool
	// Method is the request method. Defaults to "GET".
	Method string
	// Body is sent with every request, untouched (the browser binding
	// passes a JavaScript value through). Not allowed with GET or HEAD.
	Body any
	// Headers returns extra request headers. It is called before every
	// connection attempt, so credentials can be refreshed; an error counts
	// as a network error, and the attempt is retried. May be nil.
	Headers func(ctx context.Context) ([][2]string, error)
	// LastEventID is the last event ID to start from: sent as Last-Event-ID
	// from the first request on, as if a previous connection had seen it.
	// Defaults to none, as in a browser.
	LastEventID string
	// ReconnectDelay is the reconnection time until the stream sets one
	// with a retry field. Defaults to DefaultReconnectDelay (3s).
	ReconnectDelay time.Duration
	// Backoff, when not nil, replaces the fixed reconnection time with
	// growing, jittered delays: attempt n waits Backoff.Delay(n), and a
	// connection that stays up for Backoff.ResetAfter starts over. A zero
	// Backoff.Initial follows the reconnection time, so a retry field still
	// steers it. Nil (the default) waits exactly the reconnection time, as
	// browsers do.
	Backoff *shared.Backoff
	// HeartbeatTimeout reconnects a connection that receives no bytes (a
	// comment counts) for this long, and bounds the wait for the response
	// headers too. Zero (the default) disables the watchdog.
	HeartbeatTimeout time.Duration
	// MaxLineBytes and MaxEventBytes bound the parser's buffers (see
	// shared.SSEParser). Zero means no limit, as in browsers; a stream that
	// breaks a limit fails the connection.
	MaxLineBytes  int
	MaxEventBytes int
}

// Why connections end. A Handler sees them, or errors wrapping them.
var (
	// ErrStreamEnded: the server ended the response; the Source reconnects.
	ErrStreamEnded = errors.New("duet/eventsource: stream ended")
	// ErrHeartbeatTimeout: nothing arrived within Options.HeartbeatTimeout;
	// the Source reconnects.
	ErrHeartbeatTimeout = errors.New("duet/eventsource: no data within the heartbeat timeout")
)

// FailError is why a Source failed: it will not reconnect.
type FailError struct {
	// Status and ContentType are the refused response's.
	Status      int
	ContentType string
	// Err is the cause when it is not the response (a parser limit).
	Err error
}

func (e *FailError) Error() string {
	switch {
	case e.Err != nil:
		return "duet/eventsource: " + strings.TrimPrefix(e.Err.Error(), "duet/shared: ") + "; not reconnecting"
	case e.Status != 200:
		return "duet/eventsource: response status is " + strconv.Itoa(e.Status) + ", not 200; not reconnecting"
	}
	ct := e.ContentType
	if ct == "" {
		ct = "missing"
	}
	return "duet/eventsource: response Content-Type is " + ct + ", not text/event-stream; not reconnecting"
}

func (e *FailError) Unwrap() error { return e.Err }

// Source is one EventSource connection: it connects, dispatches, and
// reconnects until it fails or is closed. Create it with New and drive it
// with Run.
type Source struct {
	url     string
	d       Dialer
	h       Handler
	opts    Options
	backoff shared.Retrier

	state atomic.Int32

	mu     sync.Mutex // guards cancel, closed and lastID
	cancel context.CancelFunc
	closed bool   // Close was called, maybe before Run
	lastID string // a copy of the parser's, for LastEventID

	reconnect time.Duration // the reconnection time; Run's goroutine only
	// current is the URL of the next attempt: url, or where the last
	// accepted response was redirected to, as Chromium reconnects there
	// (Run's goroutine only).
	current string
}

// New returns a Source for url in the Connecting state. The url is used as
// given: the browser binding resolves it first. A nil opts is the zero
// Options.
func New(url string, d Dialer, h Handler, opts *Options) (*Source, error) {
	s := &Source{url: url, d: d, h: h, current: url}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Method == "" {
		s.opts.Method = "GET"
	}
	if s.opts.Body != nil && (s.opts.Method == "GET" || s.opts.Method == "HEAD") {
		return nil, errors.New("duet/eventsource: a " + s.opts.Method + " request cannot have a body")
	}
	if strings.ContainsAny(s.opts.LastEventID, "\x00\r\n") {
		return nil, errors.New("duet/eventsource: LastEventID contains NUL, CR or LF")
	}
	s.reconnect = s.opts.ReconnectDelay
	if s.reconnect <= 0 {
		s.reconnect = DefaultReconnectDelay
	}
	if s.opts.Backoff != nil {
		s.backoff.Policy = *s.opts.Backoff
	}
	s.lastID = s.opts.LastEventID
	return s, nil
}

// URL returns the URL the Source connects to.
func (s *Source) URL() string { return s.url }

// ReadyState returns the current state.
func (s *Source) ReadyState() ReadyState { return ReadyState(s.state.Load()) }

// LastEventID returns the last event ID string: what the next connection
// sends as Last-Event-ID.
func (s *Source) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// Close closes the Source, as EventSource.close does: the state is Closed
// when Close returns, the connection is aborted, and no more events are
// dispatched, bar one that another goroutine is dispatching at this very
// moment (in the browser, where everything runs on one thread, none). It
// may be called at any time, more than once, from a Handler too.
func (s *Source) Close() {
	s.state.Store(int32(Closed))
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// setState moves to state unless the Source is closed, and reports whether
// it did.
func (s *Source) setState(state ReadyState) bool {
	for {
		old := s.state.Load()
		if ReadyState(old) == Closed {
			return false
		}
		if s.state.CompareAndSwap(old, int32(state)) {
			return true
		}
	}
}

// Run connects and keeps the stream going until the Source fails, is
// closed, or ctx ends; it then leaves the state Closed. It returns the
// *FailError that failed it, or nil after Close, or ctx.Err(). Run may be
// called once.
func (s *Source) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.closed || s.cancel != nil {
		s.mu.Unlock()
		return nil
	}
	s.cancel = cancel
	s.mu.Unlock()
	defer s.state.Store(int32(Closed))

	p := &shared.SSEParser{
		MaxLineBytes:  s.opts.MaxLineBytes,
		MaxEventBytes: s.opts.MaxEventBytes,
		OnRetry:       func(ms int64) { s.reconnect = retryDuration(ms) },
		OnEvent: func(ev shared.SSEEvent) {
			if s.ReadyState() == Open {
				s.h.Message(ev)
			}
		},
	}
	p.Reset(s.opts.LastEventID)

	for {
		err := s.connect(ctx, p)
		s.setLastID(p.LastEventID())
		if ctx.Err() != nil || s.ReadyState() == Closed {
			return s.exitErr(ctx)
		}
		var fail *FailError
		if errors.As(err, &fail) {
			if s.setState(Closed) {
				s.h.Error(Closed, err)
			}
			return err
		}
		// Reestablish the connection.
		if !s.setState(Connecting) {
			return s.exitErr(ctx)
		}
		s.h.Error(Connecting, err)
		if s.ReadyState() != Connecting {
			return s.exitErr(ctx)
		}
		if !sleep(ctx, s.delay()) {
			return s.exitErr(ctx)
		}
	}
}

// exitErr is what Run returns when it stops without failing.
func (s *Source) exitErr(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return context.Cause(ctx)
}

func (s *Source) setLastID(id string) {
	s.mu.Lock()
	s.lastID = id
	s.mu.Unlock()
}

// retryDuration converts a retry field's milliseconds, clamped so the
// multiplication cannot overflow.
func retryDuration(ms int64) time.Duration {
	const maxMs = int64(1<<63-1) / int64(time.Millisecond)
	return time.Duration(min(ms, maxMs)) * time.Millisecond
}

// delay returns how long to wait before the next attempt.
func (s *Source) delay() time.Duration {
	if s.opts.Backoff == nil {
		return s.reconnect
	}
	if s.opts.Backoff.Initial <= 0 {
		s.backoff.Policy.Initial = s.reconnect
	}
	return s.backoff.Next(time.Now())
}

// sleep waits for d or the end of ctx, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connect makes one attempt and streams it to p until it ends. The error
// says why: a *FailError to stop, anything else to reconnect.
func (s *Source) connect(ctx context.Context, p *shared.SSEParser) error {
	p.End() // drop what a previous stream left unfinished, keep the last event ID
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pet := func() {} // pushes the watchdog's deadline back
	if hb := s.opts.HeartbeatTimeout; hb > 0 {
		watchdog := time.AfterFunc(hb, func() { cancel(ErrHeartbeatTimeout) })
		defer watchdog.Stop()
		pet = func() { watchdog.Reset(hb) }
	}

	req := &Request{
		URL:             s.current,
		Method:          s.opts.Method,
		Headers:         [][2]string{{"Accept", "text/event-stream"}},
		Body:            s.opts.Body,
		WithCredentials: s.opts.WithCredentials,
	}
	if s.opts.Headers != nil {
		extra, err := s.opts.Headers(ctx)
		if err != nil {
			return s.attemptErr(ctx, "headers", err)
		}
		req.Headers = append(req.Headers, extra...)
	}
	if id := p.LastEventID(); id != "" {
		req.Headers = append(req.Headers, [2]string{"Last-Event-ID", id})
	}

	resp, err := s.d.Dial(ctx, req)
	if err != nil {
		return s.attemptErr(ctx, "connect", err)
	}
	defer resp.Body.Close()
	if resp.Status != 200 {
		return &FailError{Status: resp.Status, ContentType: resp.ContentType}
	}
	if !isEventStream(resp.ContentType) {
		return &FailError{Status: resp.Status, ContentType: resp.ContentType}
	}
	// Announce the connection.
	if !s.setState(Open) {
		return nil
	}
	if s.opts.Backoff != nil {
		s.backoff.Connected(time.Now())
	}
	if resp.URL != "" {
		s.current = resp.URL
	}
	s.h.Opened(s.current)

	for {
		chunk, err := resp.Body.Read()
		if len(chunk) > 0 {
			pet()
			if perr := p.Feed(chunk); perr != nil {
				return &FailError{Status: resp.Status, ContentType: resp.ContentType, Err: perr}
			}
			s.setLastID(p.LastEventID())
		}
		if err == io.EOF {
			return ErrStreamEnded
		}
		if err != nil {
			return s.attemptErr(ctx, "read", err)
		}
		if s.ReadyState() != Open {
			return nil
		}
	}
}

// attemptErr names why an attempt ended: the watchdog, or err.
func (s *Source) attemptErr(ctx context.Context, op string, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrHeartbeatTimeout) {
		return ErrHeartbeatTimeout
	}
	return &NetworkError{Op: op, Err: err}
}

// NetworkError is a failed attempt the Source answers by reconnecting.
type NetworkError struct {
	Op  string // "headers", "connect" or "read"
	Err error
}

func (e *NetworkError) Error() string {
	return "duet/eventsource: " + e.Op + ": " + e.Err.Error()
}

func (e *NetworkError) Unwrap() error { return e.Err }

// isEventStream reports whether a Content-Type is text/event-stream, in
// any case, with no charset parameter or a UTF-8 one. The standard ignores
// the charset; Chromium refuses any other, and so does the polyfill, to
// fail where the native EventSource fails.
func isEventStream(ct string) bool {
	essence, params, _ := strings.Cut(ct, ";")
	if !asciiEqualFold(strings.Trim(essence, " \t"), "text/event-stream") {
		return false
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !asciiEqualFold(strings.Trim(name, " \t"), "charset") {
			continue
		}
		value = strings.Trim(value, " \t")
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		return asciiEqualFold(value, "utf-8")
	}
	return true
}

// asciiEqualFold reports whether a and b are equal ignoring ASCII case,
// as MIME types compare (strings.EqualFold would also fold "ſ" to "s",
// and pull Unicode tables into the browser module).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
