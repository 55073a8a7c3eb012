package demo

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// pageParam is the query parameter a demo page adds to its connections
// (Duet.connect's params option) with its page id.
const pageParam = "demo"

var pageIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// errDropped is the cause of a dropped connection: the hub ends it with no
// close frame or event, as a failed network would.
var errDropped = errors.New("duet/demo: connection dropped by the transport lab")

const (
	maxBlocked = 1024             // pages whose WebSockets are refused at once
	blockFor   = 10 * time.Minute // a block lapses after this
)

// tracker follows the live connections opened by /rt/sse and /rt/ws
// requests that pass through Wrap, so that the lab can end a page's
// connections and count them, and refuses
// WebSocket upgrades for pages that asked for it.
type tracker struct {
	reconnect error       // cause that makes the hub say "reconnect"; nil: drop
	observe   observeFunc // nil: connections are not tracked

	mu      sync.Mutex // guards the fields below
	pages   map[string]map[*tracked]struct{}
	blocked map[string]time.Time // page → when the block lapses
	live    [2]int               // open connections: [0] SSE, [1] WebSocket
}

type tracked struct {
	cancel func(cause error)
}

// observeFunc puts in ctx a function the hub calls when the request's
// connection opens (server.WithConnObserver): it gets the connection's end
// function and returns what the hub calls when the connection ends.
type observeFunc func(ctx context.Context, opened func(end func(cause error)) (closed func())) context.Context

func newTracker(reconnect error, observe observeFunc) *tracker {
	return &tracker{
		reconnect: reconnect,
		observe:   observe,
		pages:     make(map[string]map[*tracked]struct{}),
		blocked:   make(map[string]time.Time),
	}
}

// Wrap returns rt (the hub's /rt/ handler) behind the lab's middleware.
func (d *Demo) Wrap(rt http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.conns.serve(rt, w, r)
	})
}

func (t *tracker) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	wire := -1
	switch {
	case strings.HasSuffix(r.URL.Path, "/rt/sse"):
		wire = 0
	case strings.HasSuffix(r.URL.Path, "/rt/ws"):
		wire = 1
	}
	if wire < 0 {
		next.ServeHTTP(w, r)
		return
	}
	page := r.URL.Query().Get(pageParam)
	if !pageIDPattern.MatchString(page) {
		page = ""
	}
	if wire == 1 && page != "" && t.isBlocked(page, time.Now()) {
		// What a proxy that does not pass upgrades does: a plain error (a
		// browser never shows a refused upgrade's body to the page).
		// Duet.connect with transport "auto" falls back to SSE.
		http.Error(w, "duet/demo: WebSocket blocked by the transport lab", http.StatusForbidden)
		return
	}
	if t.observe == nil {
		next.ServeHTTP(w, r)
		return
	}
	// The hub tells when the connection opens and ends: it outlives this
	// handler (streams are taken over from net/http).
	ctx := t.observe(r.Context(), func(end func(cause error)) func() {
		c := &tracked{cancel: end}
		t.add(page, wire, c)
		return func() { t.remove(page, wire, c) }
	})
	next.ServeHTTP(w, r.WithContext(ctx))
}

func (t *tracker) add(page string, wire int, c *tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live[wire]++
	if page == "" {
		return
	}
	set := t.pages[page]
	if set == nil {
		set = make(map[*tracked]struct{})
		t.pages[page] = set
	}
	set[c] = struct{}{}
}

func (t *tracker) remove(page string, wire int, c *tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live[wire]--
	if set := t.pages[page]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(t.pages, page)
		}
	}
}

// end ends page's connections with cause and returns how many.
func (t *tracker) end(page string, cause error) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.pages[page]
	for c := range set {
		c.cancel(cause)
	}
	return len(set)
}

// drop ends page's connections with no word to the client.
func (t *tracker) drop(page string) int { return t.end(page, errDropped) }

// restart ends page's connections telling the clients to reconnect.
func (t *tracker) restart(page string) int {
	if t.reconnect == nil {
		return t.drop(page)
	}
	return t.end(page, t.reconnect)
}

// block refuses (on) or allows page's WebSocket upgrades. It fails when too
// many pages are blocked already.
func (t *tracker) block(page string, on bool, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !on {
		delete(t.blocked, page)
		return nil
	}
	if _, ok := t.blocked[page]; !ok && len(t.blocked) >= maxBlocked {
		for p, until := range t.blocked {
			if now.After(until) {
				delete(t.blocked, p)
			}
		}
		if len(t.blocked) >= maxBlocked {
			return errors.New("duet/demo: too many pages block WebSocket; try again later")
		}
	}
	t.blocked[page] = now.Add(blockFor)
	return nil
}

func (t *tracker) isBlocked(page string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.blocked[page]
	if ok && now.After(until) {
		delete(t.blocked, page)
		return false
	}
	return ok
}

// counts returns the open SSE and WebSocket connections.
func (t *tracker) counts() (sse, ws int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[0], t.live[1]
}
