package transport

import "strconv"

// Channel lists are short (a server allows 64 per connection), so these
// hand-written loops replace slices.Sort and friends, whose generic sorting
// code would cost the browser module more than it saves.

// sortedSet sorts names in place by insertion and drops duplicates.
func sortedSet(names []string) []string {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// inSet reports whether the sorted set holds name.
func inSet(set []string, name string) bool {
	lo, hi := 0, len(set)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case set[m] == name:
			return true
		case set[m] < name:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}

// bySeq sorts publications in the order they were made.
func bySeq(ps []*publication) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].seq < ps[j-1].seq; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// millis formats d as a number of milliseconds, for messages.
func millis(d int64) string { return strconv.FormatInt(d/1e6, 10) + "ms" }
