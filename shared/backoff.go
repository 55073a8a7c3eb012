package shared

import (
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect policy: exponential growth with full jitter
// (each delay is uniform in [0, min(Max, Initial·Multiplier^attempt))), and a
// reset to the first step once a connection has stayed up for ResetAfter.
// Full jitter spreads a crowd of clients that lost the same server over the
// whole window instead of bringing them back in waves.
//
// The zero value is usable: every zero field takes its default.
type Backoff struct {
	// Initial is the upper bound of the first delay. Defaults to 500ms.
	Initial time.Duration
	// Max caps every delay. Defaults to 30s.
	Max time.Duration
	// Multiplier is the growth per attempt. Defaults to 2; values below 1 are
	// treated as 1.
	Multiplier float64
	// ResetAfter is how long a connection must stay up to count as healthy,
	// which resets the growth. Defaults to 10s.
	ResetAfter time.Duration
	// Rand returns a number in [0, 1). Defaults to math/rand/v2.Float64;
	// tests set it to make delays deterministic.
	Rand func() float64
}

func (b *Backoff) withDefaults() Backoff {
	c := *b
	if c.Initial <= 0 {
		c.Initial = 500 * time.Millisecond
	}
	if c.Max <= 0 {
		c.Max = 30 * time.Second
	}
	if c.Max < c.Initial {
		c.Max = c.Initial
	}
	// !(m >= 1) rather than m < 1: NaN, which JavaScript hands over easily,
	// must become 1 too, or every delay would be negative.
	if !(c.Multiplier >= 1) {
		if c.Multiplier == 0 {
			c.Multiplier = 2
		} else {
			c.Multiplier = 1
		}
	}
	if c.ResetAfter <= 0 {
		c.ResetAfter = 10 * time.Second
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// Ceiling returns the upper bound of the delay before attempt n (0-based):
// min(Max, Initial·Multiplier^n).
func (b *Backoff) Ceiling(n int) time.Duration {
	c := b.withDefaults()
	ceil := float64(c.Initial)
	for i := 0; i < n && ceil < float64(c.Max); i++ {
		ceil *= c.Multiplier
	}
	// Max itself, not converted back: float64(Max) may round up past the
	// largest Duration (it does for math.MaxInt64), and converting that
	// back would overflow into a negative ceiling.
	if ceil >= float64(c.Max) {
		return c.Max
	}
	return time.Duration(ceil)
}

// Delay returns a jittered delay for attempt n.
func (b *Backoff) Delay(n int) time.Duration {
	c := b.withDefaults()
	return time.Duration(c.Rand() * float64(c.Ceiling(n)))
}

// Retrier tracks one connection's attempts under a Backoff policy.
// It is not safe for concurrent use.
type Retrier struct {
	Policy Backoff

	attempt     int
	connectedAt time.Time
}

// Connected records that a connection attempt succeeded at now.
func (r *Retrier) Connected(now time.Time) { r.connectedAt = now }

// Next records that the connection ended (or an attempt failed) at now, and
// returns how long to wait before the next attempt. If the connection had
// been up for at least ResetAfter, the growth starts over.
func (r *Retrier) Next(now time.Time) time.Duration {
	p := r.Policy.withDefaults()
	if !r.connectedAt.IsZero() && now.Sub(r.connectedAt) >= p.ResetAfter {
		r.attempt = 0
	}
	r.connectedAt = time.Time{}
	d := r.Policy.Delay(r.attempt)
	// Count only while the ceiling grows: with a Multiplier of 1 it never
	// reaches Max, and the count (and with it the loop in Ceiling) would
	// grow without bound.
	if p.Multiplier > 1 && r.Policy.Ceiling(r.attempt) < p.Max {
		r.attempt++
	}
	return d
}

// Attempt returns how many consecutive failures were counted since the last
// reset. Only failures that grew the delay count: the number stops once the
// ceiling reaches Max (and stays 0 with a Multiplier of 1).
func (r *Retrier) Attempt() int { return r.attempt }

// Reset starts the growth over, as after a healthy connection.
func (r *Retrier) Reset() { r.attempt = 0; r.connectedAt = time.Time{} }
