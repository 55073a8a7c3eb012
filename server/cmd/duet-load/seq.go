package main

// seqChecker follows the sequence numbers one subscriber receives on one
// channel, where the publisher sends 1, 2, 3, ... in order. It tells a lost
// message (never seen), a duplicate (seen twice) and a reordered one (seen
// after a later one) apart. It is owned by one reader goroutine.
type seqChecker struct {
	next       int64              // the sequence number expected next; 0 before the first
	missing    map[int64]struct{} // skipped numbers not seen yet
	duplicated int64
	reordered  int64
	// retried counts the second copies of messages whose publish was
	// retried after a try without an answer (doubted says which): the
	// publisher's doing, not a duplicate of the server's.
	retried int64
	doubted func(seq int64) bool
}

// Observe records the arrival of seq.
func (c *seqChecker) Observe(seq int64) {
	switch {
	case c.next == 0 && seq >= 1:
		// The first message: a subscriber connected before publishing
		// started expects 1; anything after 1 was lost.
		for s := int64(1); s < seq; s++ {
			c.miss(s)
		}
		c.next = seq + 1
	case seq == c.next:
		c.next++
	case seq > c.next:
		for s := c.next; s < seq; s++ {
			c.miss(s)
		}
		c.next = seq + 1
	default: // seq < c.next
		if _, ok := c.missing[seq]; ok {
			delete(c.missing, seq)
			c.reordered++
		} else if c.doubted != nil && c.doubted(seq) {
			c.retried++
		} else {
			c.duplicated++
		}
	}
}

func (c *seqChecker) miss(seq int64) {
	if c.missing == nil {
		c.missing = make(map[int64]struct{})
	}
	c.missing[seq] = struct{}{}
}

// Last is the highest sequence number seen.
func (c *seqChecker) Last() int64 {
	if c.next == 0 {
		return 0
	}
	return c.next - 1
}

// Lost counts the messages up to and including published that never arrived.
func (c *seqChecker) Lost(published int64) int64 {
	lost := int64(0)
	for s := range c.missing {
		if s <= published {
			lost++
		}
	}
	if tail := published - c.Last(); tail > 0 {
		lost += tail
	}
	return lost
}
