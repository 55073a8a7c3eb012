//go:build !js

package eventsource_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
	"github.com/duet-rt/duet/wasm/eventsource"
)

// httpDialer is a Dialer over net/http: real sockets, as in the
// browser, minus the browser.
type httpDialer struct{ client *http.Client }

func (d httpDialer) Dial(ctx context.Context, r *eventsource.Request) (*eventsource.Response, error) {
	var body io.Reader
	if b, ok := r.Body.(string); ok {
		body = strings.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, err
	}
	for _, kv := range r.Headers {
		req.Header.Add(kv[0], kv[1])
	}
	c := d.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	return &eventsource.Response{
		Status:      resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"),
		URL:         resp.Request.URL.String(),
		Body:        &httpBody{rc: resp.Body},
	}, nil
}

type httpBody struct {
	rc  io.ReadCloser
	buf [4096]byte
}

func (b *httpBody) Read() ([]byte, error) {
	n, err := b.rc.Read(b.buf[:])
	return append([]byte(nil), b.buf[:n]...), err
}

func (b *httpBody) Close() { b.rc.Close() }

// recorder is a Handler that writes down what an EventSource would dispatch.
type recorder struct {
	mu      sync.Mutex
	log     []string
	changed chan struct{}
	onEvent func(string) // called after logging, outside the lock
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	if r.onEvent != nil {
		r.onEvent(s)
	}
}

func (r *recorder) Opened(url string) { r.add("open") }
func (r *recorder) Message(ev shared.SSEEvent) {
	r.add("message " + ev.Type + " " + quote(ev.Data) + " id=" + quote(ev.LastEventID))
}
func (r *recorder) Error(state eventsource.ReadyState, err error) {
	r.add("error " + state.String())
}

func quote(s string) string {
	return "[" + strings.NewReplacer("\n", `\n`, "\r", `\r`, "\x00", `\0`).Replace(s) + "]"
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// waitFor waits until the log has n entries, failing the test after 5s.
func (r *recorder) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if ev := r.events(); len(ev) >= n {
			return ev
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d events; have %q", n, r.events())
		}
	}
}

// run starts s.Run in a goroutine and returns a function that closes s and
// returns Run's error.
func run(t *testing.T, s *eventsource.Source) (stop func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			s.Close()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after Close")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// stream serves each request with the next of bodies as an event stream,
// recording the Last-Event-ID headers; past the last body it hangs until
// the client leaves.
type stream struct {
	mu      sync.Mutex
	bodies  []string
	lastIDs []string
	reqs    []*http.Request
}

func (st *stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	n := len(st.reqs)
	st.reqs = append(st.reqs, r)
	st.lastIDs = append(st.lastIDs, r.Header.Get("Last-Event-ID"))
	st.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	if n >= len(st.bodies) {
		<-r.Context().Done()
		return
	}
	io.WriteString(w, st.bodies[n])
}

func (st *stream) ids() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.lastIDs...)
}

func newSource(t *testing.T, url string, h eventsource.Handler, opts *eventsource.Options) *eventsource.Source {
	t.Helper()
	s, err := eventsource.New(url, httpDialer{}, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDispatch(t *testing.T) {
	st := &stream{bodies: []string{
		"\xEF\xBB\xBFdata: one\n\n" +
			": a comment\r\n" +
			"event: greet\rdata: two\rdata:  three\r\r" +
			"id: 7\ndata\n\n" +
			"data: no end",
	}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, &eventsource.Options{ReconnectDelay: time.Hour})
	run(t, s)
	got := rec.waitFor(t, 5)
	assert.Equal(t, "events", got, []string{
		"open",
		"message message [one] id=[]",
		`message greet [two\n three] id=[]`,
		"message message [] id=[7]",
		"error CONNECTING",
	})

	if s.ReadyState() != eventsource.Connecting || s.LastEventID() != "7" {
		t.Fatalf("state %v, last id %q", s.ReadyState(), s.LastEventID())
	}
}

func TestReconnect(t *testing.T) {
	tests := []struct {
		name    string
		opts    eventsource.Options
		bodies  []string
		wantIDs []string
	}{
		{
			name:    "id carried over",
			bodies:  []string{"retry: 10\nid: a\ndata: 1\n\n", "data: 2\n\n"},
			wantIDs: []string{"", "a", "a"},
		},
		{
			name:    "empty id clears it",
			bodies:  []string{"retry: 10\nid: a\ndata: 1\n\nid\n\n", "data: 2\n\n"},
			wantIDs: []string{"", "", ""},
		},
		{
			name:    "id with NUL is ignored",
			bodies:  []string{"retry: 10\nid: a\n\nid: b\x00c\ndata: x\n\n", "data: 2\n\n"},
			wantIDs: []string{"", "a", "a"},
		},
		{
			name:    "id of an unfinished event is not kept",
			bodies:  []string{"retry: 10\nid: a\n\nid: b\ndata: x", "data: 2\n\n"},
			wantIDs: []string{"", "a", "a"},
		},
		{
			name:    "starting id",
			opts:    eventsource.Options{LastEventID: "5-1"},
			bodies:  []string{"retry: 10\n\n", "data: 2\n\n"},
			wantIDs: []string{"5-1", "5-1", "5-1"},
		},
		{
			name:    "reconnect delay option",
			opts:    eventsource.Options{ReconnectDelay: 10 * time.Millisecond},
			bodies:  []string{"id: z\n\n", "data: 2\n\n"},
			wantIDs: []string{"", "z", "z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stream{bodies: tt.bodies}
			srv := httptest.NewServer(st)
			defer srv.Close()
			rec := newRecorder()
			opts := tt.opts
			s := newSource(t, srv.URL, rec, &opts)
			stop := run(t, s)
			rec.waitFor(t, 6) // open, [message], error, open, message, error, open
			deadline := time.Now().Add(5 * time.Second)
			for len(st.ids()) < 3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			assert.Equal(t, "ids", st.ids()[:3], tt.wantIDs)
		})
	}
}

func TestFail(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
	}{
		{"404", 404, "text/event-stream"},
		{"204", 204, "text/event-stream"},
		{"500", 500, "text/event-stream"},
		{"201", 201, "text/event-stream"},
		{"text/plain", 200, "text/plain"},
		{"no content type", 200, ""},
		{"event-stream with a suffix", 200, "text/event-streams"},
		{"a charset other than UTF-8, as Chromium", 200, "text/event-stream; charset=iso-8859-1"},
		{"utf8 is not utf-8, as Chromium", 200, "text/event-stream;charset=utf8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			hits := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits++
				mu.Unlock()
				w.Header()["Content-Type"] = []string{tt.contentType}
				w.WriteHeader(tt.status)
				if tt.status == 200 {
					io.WriteString(w, "retry: 10\ndata: x\n\n")
				}
			}))
			defer srv.Close()
			rec := newRecorder()
			s := newSource(t, srv.URL, rec, nil)
			err := s.Run(context.Background())
			var fe *eventsource.FailError
			if !errors.As(err, &fe) || fe.Status != tt.status {
				t.Fatalf("Run = %v, want a FailError with status %d", err, tt.status)
			}
			assert.Equal(t, "events", rec.events(), []string{"error CLOSED"})
			if s.ReadyState() != eventsource.Closed || hits != 1 {
				t.Fatalf("state %v after %d requests", s.ReadyState(), hits)
			}
		})
	}
}

func TestFailSkipsForGoodContentTypes(t *testing.T) {
	for _, ct := range []string{"text/event-stream; charset=utf-8", "Text/Event-Stream", " text/event-stream ", `text/event-stream; foo=bar; Charset="UTF-8"`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{ct}
			io.WriteString(w, "data: x\n\n")
		}))
		rec := newRecorder()
		s := newSource(t, srv.URL, rec, &eventsource.Options{ReconnectDelay: time.Hour})
		stop := run(t, s)
		assert.Equal(t, "events", rec.waitFor(t, 3), []string{"open", "message message [x] id=[]", "error CONNECTING"})
		stop()
		srv.Close()
	}
}

func TestNetworkErrorReconnects(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more: every attempt is refused
	rec := newRecorder()
	s := newSource(t, url, rec, &eventsource.Options{ReconnectDelay: 5 * time.Millisecond})
	stop := run(t, s)
	assert.Equal(t, "events", rec.waitFor(t, 3)[:3], []string{"error CONNECTING", "error CONNECTING", "error CONNECTING"})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s.ReadyState() != eventsource.Closed {
		t.Fatal("not closed")
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	st := &stream{bodies: []string{}} // every request hangs, silent
	srv := httptest.NewServer(st)
	defer srv.Close()
	var mu sync.Mutex
	var errs []error
	rec := newRecorder()
	h := &errRecorder{recorder: rec, errs: &errs, mu: &mu}
	s := newSource(t, srv.URL, h, &eventsource.Options{
		HeartbeatTimeout: 30 * time.Millisecond,
		ReconnectDelay:   time.Millisecond,
	})
	run(t, s)
	assert.Equal(t, "events", rec.waitFor(t, 4)[:4], []string{"open", "error CONNECTING", "open", "error CONNECTING"})
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(errs[0], eventsource.ErrHeartbeatTimeout) {
		t.Fatalf("error %v, want ErrHeartbeatTimeout", errs[0])
	}
}

func TestHeartbeatKeptAliveByComments(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 15; i++ { // 450ms of comments, longer than the timeout
			io.WriteString(w, ":ping\n")
			w.(http.Flusher).Flush()
			time.Sleep(30 * time.Millisecond)
		}
		io.WriteString(w, "data: alive\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, &eventsource.Options{HeartbeatTimeout: 300 * time.Millisecond})
	run(t, s)
	assert.Equal(t, "events", rec.waitFor(t, 2), []string{"open", "message message [alive] id=[]"})
}

type errRecorder struct {
	*recorder
	mu   *sync.Mutex
	errs *[]error
}

func (r *errRecorder) Error(state eventsource.ReadyState, err error) {
	r.mu.Lock()
	*r.errs = append(*r.errs, err)
	r.mu.Unlock()
	r.recorder.Error(state, err)
}

func TestRequestExtras(t *testing.T) {
	type seen struct{ method, body, auth, accept, lastID string }
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, string(b), r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Last-Event-ID")})
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: x\n\n")
	}))
	defer srv.Close()
	calls := 0
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, &eventsource.Options{
		Method:         "POST",
		Body:           `{"q":1}`,
		ReconnectDelay: time.Millisecond,
		Headers: func(ctx context.Context) ([][2]string, error) {
			calls++
			if calls == 2 {
				return nil, errors.New("token service down")
			}
			return [][2]string{{"Authorization", "Bearer t" + string(rune('0'+calls))}}, nil
		},
	})
	stop := run(t, s)
	// open, message, error (ended), error (headers failed), open, message, error
	got := rec.waitFor(t, 7)[:7]
	stop()
	assert.Equal(t, "events", got, []string{
		"open", "message message [x] id=[1]", "error CONNECTING",
		"error CONNECTING",
		"open", "message message [x] id=[1]", "error CONNECTING",
	})

	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{"POST", `{"q":1}`, "Bearer t1", "text/event-stream", ""},
		{"POST", `{"q":1}`, "Bearer t3", "text/event-stream", "1"},
	}
	for i, w := range want {
		if reqs[i] != w {
			t.Errorf("request %d: got %+v, want %+v", i, reqs[i], w)
		}
	}
}

func TestCloseFromHandler(t *testing.T) {
	srv := httptest.NewServer(&stream{bodies: []string{"data: 1\n\ndata: 2\n\ndata: 3\n\n"}})
	defer srv.Close()
	rec := newRecorder()
	var s *eventsource.Source
	rec.onEvent = func(e string) {
		if strings.Contains(e, "[1]") {
			s.Close()
		}
	}
	s = newSource(t, srv.URL, rec, nil)
	if err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil after Close", err)
	}
	assert.Equal(t, "events", rec.events(), []string{"open", "message message [1] id=[]"})
}

func TestCloseBeforeRun(t *testing.T) {
	s := newSource(t, "http://127.0.0.1:1/", newRecorder(), nil)
	s.Close()
	if err := s.Run(context.Background()); err != nil || s.ReadyState() != eventsource.Closed {
		t.Fatalf("Run = %v, state %v", err, s.ReadyState())
	}
}

func TestContextEndsRun(t *testing.T) {
	srv := httptest.NewServer(&stream{})
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	rec.waitFor(t, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	assert.Equal(t, "events", rec.events(), []string{"open"})
	if s.ReadyState() != eventsource.Closed {
		t.Fatal("not closed")
	}
}

func TestParserLimitFails(t *testing.T) {
	srv := httptest.NewServer(&stream{bodies: []string{"data: ok\n\ndata: " + strings.Repeat("x", 100) + "\n\n"}})
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, &eventsource.Options{MaxLineBytes: 50})
	err := s.Run(context.Background())
	if !errors.Is(err, shared.ErrSSELineTooLong) {
		t.Fatalf("Run = %v", err)
	}
	assert.Equal(t, "events", rec.events(), []string{"open", "message message [ok] id=[]", "error CLOSED"})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts eventsource.Options
	}{
		{"GET with a body", eventsource.Options{Body: "x"}},
		{"HEAD with a body", eventsource.Options{Method: "HEAD", Body: "x"}},
		{"newline in last id", eventsource.Options{LastEventID: "a\nb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventsource.New("http://x/", httpDialer{}, newRecorder(), &tt.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "duet/eventsource: ") {
				t.Fatalf("New = %v", err)
			}
		})
	}
}

// TestBackoff: the Source waits as its Backoff says between attempts:
// growing from the server's retry, capped at Max, and jittered. Each check
// fails an implementation that lacks that part: with Rand near 1 the waits
// reach their ceilings (no growth fails the floors) and stop at Max (no cap
// would wait 400, 800, 1600 ms at the end); with Rand 0 they are far below
// the ceilings (no jitter would wait them all).
func TestBackoff(t *testing.T) {
	ceilings := []time.Duration{100, 200, 400, 400, 400} // ms: retry 100, Max 400
	var sum time.Duration
	for _, c := range ceilings {
		sum += c * time.Millisecond
	}
	t.Run("ceilings and cap", func(t *testing.T) {
		waits := backoffWaits(t, func() float64 { return 0.999 })
		total := time.Duration(0)
		for i, c := range ceilings {
			if waits[i] < c*time.Millisecond*9/10 {
				t.Errorf("wait %d = %v, want at least ~%dms", i, waits[i], c)
			}
			total += waits[i]
		}
		// The capped waits sum to 1.5 s; uncapped ones to 3.1 s.
		if limit := sum + 600*time.Millisecond; total > limit {
			t.Errorf("waits %v sum to %v, over the capped %v (+600ms for a loaded machine)", waits, total, sum)
		}
	})
	t.Run("jitter", func(t *testing.T) {
		waits := backoffWaits(t, func() float64 { return 0 })
		total := time.Duration(0)
		for _, w := range waits {
			total += w
		}
		if total > sum/2 {
			t.Errorf("waits %v sum to %v with Rand 0, want well under the ceilings' %v (full jitter)", waits, total, sum)
		}
	})
}

// backoffWaits runs a Source against a server that ends every stream at
// once (after "retry: 100") and returns the first five waits between
// attempts, with Backoff{Max: 400ms, Rand: rnd}.
func backoffWaits(t *testing.T, rnd func() float64) []time.Duration {
	t.Helper()
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 100\n\n") // sets Initial, as Backoff.Initial is zero
	}))
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL, rec, &eventsource.Options{
		Backoff: &shared.Backoff{Max: 400 * time.Millisecond, Rand: rnd},
	})
	stop := run(t, s)
	rec.waitFor(t, 12) // six attempts
	stop()
	mu.Lock()
	defer mu.Unlock()
	waits := make([]time.Duration, 5)
	for i := range waits {
		waits[i] = times[i+1].Sub(times[i])
	}
	return waits
}

// TestReconnectAfterRedirect: a stream reached through a redirect is
// reconnected to where the redirect led, as Chromium does, not through the
// redirect again; the url attribute stays the one asked for.
func TestReconnectAfterRedirect(t *testing.T) {
	st := &stream{bodies: []string{"retry: 10\nid: a\ndata: 1\n\n", "data: 2\n\n"}}
	var redirects sync.Map // path → count
	mux := http.NewServeMux()
	mux.Handle("/stream", st)
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		n, _ := redirects.LoadOrStore("/old", new(int))
		*n.(*int)++
		http.Redirect(w, r, "/stream", http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rec := newRecorder()
	s := newSource(t, srv.URL+"/old", rec, nil)
	stop := run(t, s)
	got := rec.waitFor(t, 6)
	assert.Equal(t, "events", got[:6], []string{
		"open",
		"message message [1] id=[a]",
		"error CONNECTING",
		"open",
		"message message [2] id=[a]",
		"error CONNECTING",
	})
	for deadline := time.Now().Add(5 * time.Second); len(st.ids()) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no third request; Last-Event-IDs %q", st.ids())
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	n, _ := redirects.Load("/old")
	assert.Equal(t, "requests through the redirect", *n.(*int), 1)
	assert.Equal(t, "URL", s.URL(), srv.URL+"/old")
	assert.Equal(t, "Last-Event-ID of the requests to the stream", st.ids(), []string{"", "a", "a"})
}
