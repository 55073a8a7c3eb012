package server

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is a Prometheus histogram over integer observations (messages,
// milliseconds) kept in plain atomics, so a writer can add a whole batch's
// observations with one atomic add per bucket it touched (tally), where a
// prometheus.Histogram would take several atomic operations per
// observation. Collect turns it into a constant histogram at scrape time.
type histogram struct {
	bounds []int64         // upper bounds, ascending, in the observation's unit
	counts []atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	sum    atomic.Int64    // of all observations, in the observation's unit
}

func newHistogram(bounds ...int64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// bucket returns the index of v's bucket. Most observations are small, so
// a linear scan from the bottom beats a binary search.
func (h *histogram) bucket(v int64) int {
	for i, b := range h.bounds {
		if v <= b {
			return i
		}
	}
	return len(h.bounds)
}

// observe adds one observation.
func (h *histogram) observe(v int64) {
	h.counts[h.bucket(v)].Add(1)
	h.sum.Add(v)
}

// metric is the histogram as Prometheus sees it: bounds and sum divided by
// scale (1000 turns milliseconds into seconds).
func (h *histogram) metric(desc *prometheus.Desc, scale float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.bounds))
	var n uint64
	for i, b := range h.bounds {
		n += h.counts[i].Load()
		buckets[float64(b)/scale] = n
	}
	n += h.counts[len(h.bounds)].Load()
	return prometheus.MustNewConstHistogram(desc, n, float64(h.sum.Load())/scale, buckets, labels...)
}

// tallyBuckets is the most bounds a tallied histogram may have (newTallied
// checks).
const tallyBuckets = 16

// newTallied is newHistogram for one that tallies fill.
func newTallied(bounds ...int64) *histogram {
	if len(bounds) > tallyBuckets {
		panic("duet/server: a tallied histogram has at most 16 bounds")
	}
	return newHistogram(bounds...)
}

// tally gathers one batch's observations of a histogram without atomics;
// flush adds them to it.
type tally struct {
	counts [tallyBuckets + 1]uint32
	sum    int64
	any    bool
}

func (t *tally) add(h *histogram, v int64) {
	t.counts[h.bucket(v)]++
	t.sum += v
	t.any = true
}

func (t *tally) flush(h *histogram) {
	if !t.any {
		return
	}
	for i, c := range t.counts[:len(h.counts)] {
		if c != 0 {
			h.counts[i].Add(uint64(c))
		}
	}
	h.sum.Add(t.sum)
	*t = tally{}
}
