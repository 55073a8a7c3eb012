package demo

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a user, a page): burst requests at
// once, then one per interval. It holds at most maxKeys buckets; when full
// it forgets the buckets that have refilled, and refuses new keys if none
// has.
type limiter struct {
	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const (
	limitBurst    = 8
	limitInterval = 250 * time.Millisecond // 4 requests/s sustained
	limitMaxKeys  = 10000
)

func newLimiter() *limiter { return &limiter{buckets: make(map[string]*bucket)} }

// allow reports whether key may make one more request now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= limitMaxKeys {
			l.sweep(now)
			if len(l.buckets) >= limitMaxKeys {
				return false
			}
		}
		b = &bucket{tokens: limitBurst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(limitBurst, b.tokens+float64(now.Sub(b.last))/float64(limitInterval))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets that are full again: forgetting them changes
// nothing.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(limitInterval) >= limitBurst {
			delete(l.buckets, k)
		}
	}
}
