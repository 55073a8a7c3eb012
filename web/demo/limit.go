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
	burst    float64       // limitBurst when zero
	interval time.Duration // limitInterval when zero

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

// Per client address, several users may share one (a NAT, an office): it
// gets four times a user's rate and burst, and no more however many user
// cookies its clients make up.
const addrLimitFactor = 4

func newLimiter() *limiter { return &limiter{buckets: make(map[string]*bucket)} }

func newAddrLimiter() *limiter {
	return &limiter{burst: addrLimitFactor * limitBurst, interval: limitInterval / addrLimitFactor, buckets: make(map[string]*bucket)}
}

func (l *limiter) rate() (burst float64, interval time.Duration) {
	burst, interval = l.burst, l.interval
	if burst == 0 {
		burst = limitBurst
	}
	if interval == 0 {
		interval = limitInterval
	}
	return burst, interval
}

// allow reports whether key may make one more request now.
func (l *limiter) allow(key string, now time.Time) bool {
	burst, interval := l.rate()
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
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.last))/float64(interval))
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
	burst, interval := l.rate()
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(interval) >= burst {
			delete(l.buckets, k)
		}
	}
}
