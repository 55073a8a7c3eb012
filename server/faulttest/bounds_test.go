package faulttest

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// The README's fault table promises times ("cut off … within 10 s",
// "closed … within 5 s", "cut at 1 s"). The suite asserts each promise
// with a margin for the machine it runs on: the project's CI is a 2-core
// VM shared with the storms and other builds (load averages up to 30 were
// seen), and the race detector slows the server several times over. The
// margin is documented here and in the README: the promise × 2 without
// -race, × 3 with it. A run that needs more than that fails.
func promised(d time.Duration) time.Duration {
	if raceEnabled {
		return 3 * d
	}
	return 2 * d
}

// assertWithin fails t when took exceeds the promise (with its margin) or
// is shorter than floor, the earliest the mechanism under test can act: a
// faster cut would mean something else cut the connection.
func assertWithin(t *testing.T, what string, took, floor, promise time.Duration) {
	t.Helper()
	if took < floor || took > promised(promise) {
		t.Errorf("%s took %v; the README promises %v (asserted within [%v, %v], race detector %v)",
			what, took.Round(time.Millisecond), promise, floor, promised(promise), raceEnabled)
	}
}

// durations collects how long each of many concurrent things took.
type durations struct {
	mu sync.Mutex
	d  []time.Duration
}

func (ds *durations) add(d time.Duration) {
	ds.mu.Lock()
	ds.d = append(ds.d, d)
	ds.mu.Unlock()
}

// span returns the shortest and the longest; zero and zero when empty.
func (ds *durations) span() (lo, hi time.Duration) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if len(ds.d) == 0 {
		return 0, 0
	}
	return slices.Min(ds.d), slices.Max(ds.d)
}
