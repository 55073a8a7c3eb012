package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in microseconds in log-linear buckets: exact
// below 128 µs, then 64 buckets per power of two (at most 1.6% error), the
// shape of an HDR histogram with two significant digits. Record is safe for
// concurrent use and allocation-free.
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

const (
	histSub     = 64                      // buckets per power of two
	histLinear  = 2 * histSub             // values below this have their own bucket
	histBuckets = histLinear + 40*histSub // up to 2^46 µs, beyond any run
)

func histIndex(us int64) int {
	if us < 0 {
		us = 0
	}
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 7 // us >> e is in [64, 128)
	i := histLinear + (e-1)*histSub + int(uint64(us)>>e) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i, in microseconds.
func histValue(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	sub := int64((i-histLinear)%histSub + histSub)
	lo := sub << e
	return lo + (int64(1)<<e)/2
}

// Record adds one duration.
func (h *histogram) Record(d time.Duration) {
	h.counts[histIndex(d.Microseconds())].Add(1)
}

// Merge adds o's counts to h.
func (h *histogram) Merge(o *histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n != 0 {
			h.counts[i].Add(n)
		}
	}
}

// Count is the number of recorded durations.
func (h *histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Quantile returns the duration below which a fraction q of the recorded
// durations fall (q in [0, 1]); zero when nothing was recorded.
func (h *histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > total {
		rank = total
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(histValue(i)) * time.Microsecond
		}
	}
	return time.Duration(histValue(histBuckets-1)) * time.Microsecond
}

// Max returns the largest bucket that holds a value.
func (h *histogram) Max() time.Duration {
	for i := histBuckets - 1; i >= 0; i-- {
		if h.counts[i].Load() != 0 {
			return time.Duration(histValue(i)) * time.Microsecond
		}
	}
	return 0
}

// shardedHistogram spreads concurrent Records over several histograms so the
// readers of two cores do not fight over the same cache lines.
type shardedHistogram struct {
	shards [16]histogram
}

func (s *shardedHistogram) Record(shard int, d time.Duration) {
	s.shards[shard&15].Record(d)
}

// Merged returns the sum of the shards.
func (s *shardedHistogram) Merged() *histogram {
	h := new(histogram)
	for i := range s.shards {
		h.Merge(&s.shards[i])
	}
	return h
}

// merge adds o's shards to s's.
func (s *shardedHistogram) merge(o *shardedHistogram) {
	for i := range o.shards {
		s.shards[i].Merge(&o.shards[i])
	}
}
