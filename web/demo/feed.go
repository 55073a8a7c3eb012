package demo

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The feed: a simulated ticker published on FeedChannel at FeedRate
// messages a second while someone watches.
const (
	FeedChannel = "feed:ticker"
	FeedRate    = 25
	// watchLease is how long one "I am watching" keeps a generator running;
	// pages renew it every watchRenew.
	watchLease = 30 * time.Second
)

// Quote is one symbol's price, the data of a "tick" event.
type Quote struct {
	Symbol string  `json:"s"`
	Price  float64 `json:"p"`
	Change float64 `json:"c"` // since the feed started, percent
}

// ticker is the feed's state: a random walk per symbol.
type ticker struct {
	mu     sync.Mutex // guards quotes and open
	quotes []Quote
	open   []float64
	lease  lease
}

var symbols = []string{"DUET", "GOPH", "WASM", "SSE", "WSKT", "HTTP", "TMPL", "NATS", "CHRM", "JSON", "GZIP", "BROT"}

func newTicker() *ticker {
	t := &ticker{}
	for i, s := range symbols {
		p := 20 + float64(i*37%180)
		t.quotes = append(t.quotes, Quote{Symbol: s, Price: p})
		t.open = append(t.open, p)
	}
	return t
}

// step moves one random symbol and returns its new quote.
func (t *ticker) step() Quote {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := rand.IntN(len(t.quotes))
	q := &t.quotes[i]
	q.Price = math.Max(1, math.Round(q.Price*(1+rand.NormFloat64()*0.002)*100)/100)
	q.Change = math.Round((q.Price/t.open[i]-1)*10000) / 100
	return *q
}

// Quotes returns every symbol's current quote, for first paint.
func (d *Demo) Quotes() []Quote {
	d.feed.mu.Lock()
	defer d.feed.mu.Unlock()
	return append([]Quote(nil), d.feed.quotes...)
}

func (d *Demo) runFeed(ctx context.Context) {
	tick(ctx, time.Second/FeedRate, func(now time.Time) {
		if !d.feed.lease.held(now) {
			return
		}
		if _, err := d.publishJSON(ctx, FeedChannel, "tick", d.feed.step()); err != nil && ctx.Err() == nil {
			d.log.Warn("duet/demo: feed", "err", err)
		}
	})
}

// serveFeedWatch: POST /demo/feed/watch keeps the feed running for
// watchLease.
func (d *Demo) serveFeedWatch(w http.ResponseWriter, r *http.Request) {
	d.feed.lease.renew(time.Now())
	writeJSON(w, http.StatusOK, map[string]int{"rate": FeedRate})
}

// lease is a deadline any watcher can push forward.
type lease struct{ until atomic.Int64 }

func (l *lease) renew(now time.Time) { l.until.Store(now.Add(watchLease).UnixNano()) }
func (l *lease) held(now time.Time) bool {
	return now.UnixNano() < l.until.Load()
}
