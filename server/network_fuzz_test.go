package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Fuzzers of what reaches the server from the network, past the codecs that
// shared fuzzes on their own: the POST /rt/publish body, the SSE request's
// query and Last-Event-ID, and WebSocket text frames through the frame
// handler. Each checks the answer is one the protocol documents, never a
// 500 or a panic.

// fuzzHub is a hub over a small MemoryBroker for one fuzz target.
func fuzzHub(f *testing.F) *Hub {
	b := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, HistorySize: 4, MaxChannels: 256})
	// Subscribe rate limits off: the fuzzer opens thousands of streams a
	// second from one address, which they would refuse (they have their
	// own tests).
	h, err := NewHub(&Config{Broker: b, Logger: quietLogger(), MaxChannels: 8, MaxFrameBytes: 4 << 10, MaxPublishBytes: 1 << 10,
		SubscribeRate: -1, IdentitySubscribeRate: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		_ = b.Close()
	})
	return h
}

// documentedCode reports whether a refusal's body {"code":N,"message":…}
// carries one of codes.
func documentedCode(t *testing.T, body []byte, codes ...shared.Code) shared.Code {
	t.Helper()
	var e struct {
		Code    shared.Code
		Message string
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		t.Fatalf("refusal body %q is not {\"code\",\"message\"}: %v", body, err)
	}
	for _, c := range codes {
		if e.Code == c {
			return c
		}
	}
	t.Fatalf("refusal with code %d (%s), want one of %v", e.Code, body, codes)
	return 0
}

func FuzzPublishBody(f *testing.F) {
	for _, s := range []string{
		`{"channel":"a","data":1}`,
		`{"channel":"a","event":"e","data":{"x":[1,2,"3"]}}`,
		`{"channel":"a","data":null}`,
		`{"channel":"a"}`,
		`{"channel":"a b","data":1}`,
		`{"channel":"a","event":"duet.x","data":1}`,
		`{"channel":"a","data":"` + strings.Repeat("x", 1100) + `"}`,
		`{"channel":"a","data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		`{"channel":"a","data":1,"channel":"b"}`,
		`[1,2]`, `{oops`, ``, "\xff\xfe", `{"channel":1,"data":1}`,
	} {
		f.Add([]byte(s))
	}
	h := fuzzHub(f)
	handler := h.PublishHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/rt/publish", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var ok struct{ ID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil {
				t.Fatalf("200 body %q: %v", rec.Body, err)
			}
			if _, err := shared.ParseID(ok.ID); err != nil {
				t.Fatalf("200 with id %q: %v", ok.ID, err)
			}
			// What was accepted is what encoding/json reads, valid.
			var req publishRequest
			if err := json.Unmarshal(body, &req); err != nil || !json.Valid(req.Data) {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
			}
		case http.StatusBadRequest:
			documentedCode(t, rec.Body.Bytes(), shared.CodeBadRequest, shared.CodeBadChannel)
		case http.StatusRequestEntityTooLarge:
			documentedCode(t, rec.Body.Bytes(), shared.CodeTooLarge)
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzSSERequest: the query (channels, lastEventId) and Last-Event-ID of
// an SSE request. A refusal carries a documented code; an accepted request
// streams: the hello first, then (history holds 7-1..7-4 on "a" and "b")
// the replay after the id asked for, every message on a requested channel,
// no id twice. The request ends once the stream has sent a message, or
// shortly after its hello when there is nothing to replay.
func FuzzSSERequest(f *testing.F) {
	f.Add("channel=a", "")
	f.Add("channel=a&channel=b&lastEventId=7-1", "")
	f.Add("channel=a", "7-999999")
	f.Add("channel=a&channel=a", "1-1")
	f.Add("channel=b", "7-2")
	f.Add("channel="+strings.Repeat("c", 200), "")
	f.Add("channel=%zz", "x")
	f.Add(strings.Repeat("channel=a&", 40), "")
	f.Add("", "")
	h := fuzzHub(f)
	for i := range 4 {
		ch := []string{"a", "b"}[i%2]
		if _, err := h.Publish(context.Background(), ch, "", []byte(strconv.Itoa(i))); err != nil {
			f.Fatal(err)
		}
	}
	handler := h.SSEHandler()
	f.Fuzz(func(t *testing.T, query, lastEventID string) {
		if strings.ContainsAny(lastEventID, "\r\n\x00") {
			return // not a header value an HTTP server would deliver
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/rt/sse", nil)
		req.URL.RawQuery = query
		req.Header.Set("Last-Event-ID", lastEventID)
		w := newStreamRecorder()
		served := make(chan struct{})
		go func() {
			defer close(served)
			handler.ServeHTTP(w, req)
		}()
		// End the stream once it sent a message, or 2 ms after its hello.
		select {
		case <-served:
		case <-w.wrote("event: duet.hello\n"):
			select {
			case <-served:
			case <-w.wrote("\nid: "):
			case <-time.After(2 * time.Millisecond):
			}
		case <-time.After(waitTimeout):
			t.Fatalf("query %q, Last-Event-ID %q: neither an answer nor a hello within %v", query, lastEventID, waitTimeout)
		}
		cancel()
		<-served
		code, body := w.result()
		q, _ := url.ParseQuery(query)
		switch code {
		case http.StatusBadRequest:
			documentedCode(t, body, shared.CodeBadChannel, shared.CodeTooManyChannels, shared.CodeBadID)
		case http.StatusOK:
			checkStream(t, query, lastEventID, q["channel"], body)
		default:
			t.Fatalf("status %d for query %q, Last-Event-ID %q: %s", code, query, lastEventID, body)
		}
	})
}

// checkStream checks an accepted SSE stream: the hello first, each message
// on a requested (valid) channel, no id twice.
func checkStream(t *testing.T, query, lastEventID string, channels []string, body []byte) {
	t.Helper()
	for _, c := range channels {
		if err := shared.ValidateChannel(c); err != nil {
			t.Fatalf("query %q streamed with channel %q: %v", query, c, err)
		}
	}
	events := strings.Split(string(body), "\n\n")
	if !strings.Contains(events[0], "event: duet.hello") {
		t.Fatalf("query %q, Last-Event-ID %q: the stream does not start with the hello: %q", query, lastEventID, body)
	}
	seen := map[string]bool{}
	for _, ev := range events[1:] {
		var id, data string
		for line := range strings.SplitSeq(ev, "\n") {
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if id == "" || strings.Contains(ev, "event: duet.") {
			continue // a comment, or a gap or close notice
		}
		if seen[id] {
			t.Fatalf("query %q, Last-Event-ID %q: id %s twice", query, lastEventID, id)
		}
		seen[id] = true
		var e struct{ Channel string }
		if err := json.Unmarshal([]byte(data), &e); err != nil || !slices.Contains(channels, e.Channel) {
			t.Fatalf("query %q, Last-Event-ID %q: message %s on channel %q, not one requested (%v)", query, lastEventID, id, e.Channel, err)
		}
	}
}

// streamRecorder is a ResponseWriter that may be read while the handler
// writes (httptest.ResponseRecorder may not), and says when its body first
// contains a string.
type streamRecorder struct {
	mu     sync.Mutex
	header http.Header
	code   int
	body   bytes.Buffer
	waits  map[string]chan struct{}
}

func newStreamRecorder() *streamRecorder {
	return &streamRecorder{header: http.Header{}, waits: map[string]chan struct{}{}}
}

func (r *streamRecorder) Header() http.Header { return r.header }

func (r *streamRecorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == 0 {
		r.code = code
	}
}

func (r *streamRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body.Write(p)
	for s, ch := range r.waits {
		if bytes.Contains(r.body.Bytes(), []byte(s)) {
			close(ch)
			delete(r.waits, s)
		}
	}
	return len(p), nil
}

func (r *streamRecorder) Flush() {}

// wrote returns a channel closed once the body contains s.
func (r *streamRecorder) wrote(s string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if bytes.Contains(r.body.Bytes(), []byte(s)) {
		close(ch)
		return ch
	}
	r.waits[s] = ch
	return ch
}

func (r *streamRecorder) result() (int, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code, bytes.Clone(r.body.Bytes())
}

func FuzzWSFrames(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","ref":"1","channels":["a","b"]}`,
		`{"type":"subscribe","ref":"1","channels":["a"],"lastEventId":"7-1"}` + "\n" + `{"type":"unsubscribe","channels":["a"]}`,
		`{"type":"publish","ref":"p","channel":"a","data":{"x":1}}`,
		`{"type":"publish","ref":"p","channel":"a","event":"duet.hello","data":1}`,
		`{"type":"ping","ref":"x"}` + "\n\n" + `{"type":"pong"}`,
		`{"type":"subscribe","channels":["a","b","c","d","e","f","g","h","i"]}`,
		`{"type":"subscribe","channels":["a"],"lastEventId":"7-99999999"}`,
		`{"type":"nope"}`, `{oops`, "\xff", `{"channels":[]}`,
	} {
		f.Add([]byte(s))
	}
	h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, ctx, err := h.register(context.Background(), "ws", &Identity{})
		if err != nil {
			t.Fatal(err)
		}
		wc := &wsConn{h: h, ob: newOutbox(1 << 16), ctx: ctx, io: context.WithoutCancel(ctx), conn: c, channels: make(map[string]struct{})}
		defer h.unregister(c)
		defer wc.ob.close()
		defer h.broker.Unsubscribe(wc.ob)
		// Split like the read loop: one protocol frame per line.
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if !wc.handle(line) {
				break
			}
			if len(wc.channels) > h.cfg.MaxChannels {
				t.Fatalf("the connection holds %d channels, limit %d", len(wc.channels), h.cfg.MaxChannels)
			}
		}
		wk := wc.ob.take()
		batch := wk.batch
		if wk.overflow {
			t.Fatalf("replies overflowed a %d-item queue", wc.ob.limit)
		}
		for _, it := range batch {
			if it.frame == nil {
				continue
			}
			f, err := shared.DecodeFrame(it.frame)
			if err != nil {
				t.Fatalf("the server sent a frame it cannot decode: %q: %v", it.frame, err)
			}
			if f.Type == shared.TypeError && f.Code.String() == "code "+strconv.Itoa(int(f.Code)) {
				t.Fatalf("error frame with an undocumented code: %q", it.frame)
			}
		}
	})
}

// FuzzClientIP: whatever X-Forwarded-For says, the client address is the
// TCP peer unless the peer is a trusted proxy, and otherwise one of the
// header's addresses or the peer; never a panic.
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:5000", "198.51.100.7, 10.9.9.9")
	f.Add("192.0.2.1:80", "198.51.100.7")
	f.Add("[::1]:1", "::ffff:1.2.3.4,  ,x")
	f.Add("10.0.0.1:1", strings.Repeat("10.0.0.2,", 100))
	f.Add("@", "")
	trusting := newConnLimiter(&Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	plain := newConnLimiter(&Config{})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/rt/sse", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		peer := peerAddr(remote)
		if got := plain.clientIP(r); got != peer {
			t.Fatalf("without trusted proxies the client is %v, not the peer %v", got, peer)
		}
		got := trusting.clientIP(r)
		if !trusting.isTrusted(peer) {
			if got != peer {
				t.Fatalf("untrusted peer %v, yet the client is %v", peer, got)
			}
			return
		}
		if got == peer {
			return
		}
		for hop := range strings.SplitSeq(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("client %v is neither the peer %v nor in X-Forwarded-For %q", got, peer, xff)
	})
}
