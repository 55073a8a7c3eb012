package shared

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared/assert"
)

const ms = time.Millisecond

// constRand returns a Rand that always returns v.
func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   Backoff
	}{
		{"zero", Backoff{}},
		{"negative", Backoff{Initial: -1, Max: -1, ResetAfter: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			assert.Equal(t, "Initial", got.Initial, 500*ms)
			assert.Equal(t, "Max", got.Max, 30*time.Second)
			assert.Equal(t, "Multiplier", got.Multiplier, 2.0)
			assert.Equal(t, "ResetAfter", got.ResetAfter, 10*time.Second)
			if got.Rand == nil {
				t.Fatal("no default Rand")
			}
			for range 1000 {
				if r := got.Rand(); r < 0 || r >= 1 {
					t.Fatalf("default Rand returned %v", r)
				}
			}
		})
	}
	// withDefaults leaves the policy itself alone.
	b := Backoff{}
	b.withDefaults()
	assert.Equal(t, "policy after withDefaults", b.Initial, time.Duration(0))
}

func TestBackoffCeiling(t *testing.T) {
	t.Parallel()
	s := time.Second
	for _, tc := range []struct {
		name   string
		policy Backoff
		want   []time.Duration // Ceiling(0), Ceiling(1), ...
	}{
		{"defaults double up to 30s", Backoff{}, []time.Duration{500 * ms, s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}},
		{"multiplier 3", Backoff{Initial: 100 * ms, Max: s, Multiplier: 3}, []time.Duration{100 * ms, 300 * ms, 900 * ms, s, s}},
		{"multiplier 1.5", Backoff{Initial: s, Max: 4 * s, Multiplier: 1.5}, []time.Duration{s, 1500 * ms, 2250 * ms, 3375 * ms, 4 * s}},
		{"multiplier 1 never grows", Backoff{Initial: s, Multiplier: 1}, []time.Duration{s, s, s, s}},
		{"multiplier below 1 is 1", Backoff{Initial: s, Multiplier: 0.5}, []time.Duration{s, s, s}},
		{"negative multiplier is 1", Backoff{Initial: s, Multiplier: -2}, []time.Duration{s, s, s}},
		{"NaN multiplier is 1", Backoff{Initial: s, Multiplier: math.NaN()}, []time.Duration{s, s, s}},
		{"infinite multiplier jumps to the cap", Backoff{Initial: s, Max: 5 * s, Multiplier: math.Inf(1)}, []time.Duration{s, 5 * s, 5 * s}},
		{"Max equal to Initial", Backoff{Initial: s, Max: s}, []time.Duration{s, s, s}},
		// Max below Initial is raised to Initial.
		{"Max below Initial", Backoff{Initial: 2 * s, Max: s}, []time.Duration{2 * s, 2 * s}},
		{"only Max set", Backoff{Max: 2 * s}, []time.Duration{500 * ms, s, 2 * s, 2 * s}},
		{"huge Max", Backoff{Initial: s, Max: math.MaxInt64}, []time.Duration{s, 2 * s, 4 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n, want := range tc.want {
				assert.Equal(t, "Ceiling("+strconv.Itoa(n)+")", tc.policy.Ceiling(n), want)
			}
		})
	}
	b := Backoff{}
	assert.Equal(t, "negative attempt", b.Ceiling(-1), 500*ms)
	assert.Equal(t, "attempt far past the cap", b.Ceiling(math.MaxInt), 30*time.Second)
	huge := Backoff{Initial: time.Nanosecond, Max: math.MaxInt64}
	assert.Equal(t, "ceiling capped at the largest Duration", huge.Ceiling(1000), time.Duration(math.MaxInt64))
}

func TestBackoffDelayJitter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{"bottom of the window", 0, []time.Duration{0, 0, 0}},
		{"middle of the window", 0.5, []time.Duration{250 * ms, 500 * ms, time.Second}},
		{"top of the window", 0.999, []time.Duration{499500 * time.Microsecond, 999 * ms, 1998 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{Rand: constRand(tc.rand)}
			for n, want := range tc.want {
				assert.Equal(t, "Delay("+strconv.Itoa(n)+")", b.Delay(n), want)
			}
		})
	}

	// Full jitter: every delay is in [0, ceiling), and the window is used.
	rng := rand.New(rand.NewPCG(7, 8))
	b := Backoff{Initial: 100 * ms, Max: 3 * time.Second, Multiplier: 1.7, Rand: rng.Float64}
	for n := range 12 {
		ceil := b.Ceiling(n)
		lo, hi := ceil, time.Duration(0)
		for range 2000 {
			d := b.Delay(n)
			if d < 0 || d >= ceil {
				t.Fatalf("Delay(%d) = %v, outside [0, %v)", n, d, ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > ceil/10 || hi < ceil*9/10 {
			t.Fatalf("Delay(%d) stayed in [%v, %v] of [0, %v)", n, lo, hi, ceil)
		}
	}
	// The largest float64 below 1 still stays under the ceiling.
	top := Backoff{Rand: constRand(math.Nextafter(1, 0))}
	for n := range 10 {
		if d, ceil := top.Delay(n), top.Ceiling(n); d >= ceil {
			t.Fatalf("Delay(%d) = %v, not below %v", n, d, ceil)
		}
	}
}

func TestRetrierGrowsAndCaps(t *testing.T) {
	t.Parallel()
	r := Retrier{Policy: Backoff{Initial: 100 * ms, Max: time.Second, Rand: constRand(0.5)}}
	now := time.Unix(1764100000, 0)
	wantDelays := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms, 500 * ms}
	wantAttempts := []int{1, 2, 3, 4, 4, 4, 4}
	assert.Equal(t, "Attempt before any", r.Attempt(), 0)
	for i := range wantDelays {
		assert.Equal(t, "delay "+strconv.Itoa(i), r.Next(now), wantDelays[i])
		assert.Equal(t, "Attempt after "+strconv.Itoa(i), r.Attempt(), wantAttempts[i])
		now = now.Add(time.Hour) // failed attempts never reset, however far apart
	}
	r.Reset()
	assert.Equal(t, "Attempt after Reset", r.Attempt(), 0)
	assert.Equal(t, "delay after Reset", r.Next(now), 50*ms)
}

func TestRetrierAttemptStopsAtTheCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy Backoff
		cap    int
	}{
		{"defaults", Backoff{}, 6},
		{"already at the cap", Backoff{Initial: time.Second, Max: time.Second}, 0},
		// With no growth there is nothing to count.
		{"multiplier 1", Backoff{Initial: time.Second, Multiplier: 1}, 0},
		{"multiplier below 1", Backoff{Initial: time.Second, Multiplier: 0.1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Retrier{Policy: tc.policy}
			now := time.Unix(0, 0)
			for range 1000 {
				d := r.Next(now)
				if ceil := r.Policy.Ceiling(r.Attempt()); d < 0 || d >= ceil {
					t.Fatalf("delay %v outside [0, %v)", d, ceil)
				}
			}
			assert.Equal(t, "Attempt", r.Attempt(), tc.cap)
		})
	}
}

func TestRetrierReset(t *testing.T) {
	t.Parallel()
	policy := Backoff{Initial: 100 * ms, Max: 10 * time.Second, ResetAfter: 5 * time.Second, Rand: constRand(0.5)}
	t0 := time.Unix(1764100000, 0)
	grow := func(r *Retrier, n int) {
		for range n {
			r.Next(t0)
		}
	}
	for _, tc := range []struct {
		name      string
		run       func(r *Retrier) time.Duration
		wantDelay time.Duration
		wantAfter int
	}{
		{
			name: "healthy connection resets",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				return r.Next(t0.Add(5 * time.Second))
			},
			wantDelay: 50 * ms, wantAfter: 1,
		},
		{
			name: "long connection resets",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				return r.Next(t0.Add(24 * time.Hour))
			},
			wantDelay: 50 * ms, wantAfter: 1,
		},
		{
			name: "short connection keeps growing",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				return r.Next(t0.Add(5*time.Second - time.Nanosecond))
			},
			wantDelay: 400 * ms, wantAfter: 4,
		},
		{
			name: "a connection counts once",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				r.Next(t0.Add(time.Second)) // short: attempt 3 → 4
				return r.Next(t0.Add(time.Hour))
			},
			wantDelay: 800 * ms, wantAfter: 5,
		},
		{
			name: "the last connect counts",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				r.Connected(t0.Add(4 * time.Second))
				return r.Next(t0.Add(6 * time.Second))
			},
			wantDelay: 400 * ms, wantAfter: 4,
		},
		{
			name: "clock going backwards does not reset",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				return r.Next(t0.Add(-time.Hour))
			},
			wantDelay: 400 * ms, wantAfter: 4,
		},
		{
			name: "Reset",
			run: func(r *Retrier) time.Duration {
				r.Connected(t0)
				r.Reset()
				return r.Next(t0.Add(time.Hour))
			},
			wantDelay: 50 * ms, wantAfter: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Retrier{Policy: policy}
			grow(&r, 3)
			assert.Equal(t, "Attempt before", r.Attempt(), 3)
			assert.Equal(t, "delay", tc.run(&r), tc.wantDelay)
			assert.Equal(t, "Attempt after", r.Attempt(), tc.wantAfter)
		})
	}
}

func TestRetrierZeroValue(t *testing.T) {
	t.Parallel()
	var r Retrier
	for range 100 {
		if d := r.Next(time.Now()); d < 0 || d >= 30*time.Second {
			t.Fatalf("delay %v out of the default bounds", d)
		}
	}
	assert.Equal(t, "Attempt", r.Attempt(), 6)
}
