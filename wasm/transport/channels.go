package transport

import (
	"slices"

	"github.com/duet-rt/duet/shared"
)

// normalizeChannels validates names and returns them sorted, without
// duplicates.
func normalizeChannels(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := shared.ValidateChannel(n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return sortedSet(out), nil
}

// SetChannels makes channels the subscribed set. On a WebSocket the
// difference is sent as subscribe and unsubscribe frames (a new channel gets
// live messages from now on); on SSE the stream is reopened with the new
// set, resuming from the cursor. Messages of a removed channel stop at once.
func (c *Conn) SetChannels(channels []string) error {
	names, err := normalizeChannels(channels)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || slices.Equal(names, c.channels) {
		c.channels = names
		return nil
	}
	var added, removed []string
	for _, n := range names {
		if !c.hasChannel(n) {
			added = append(added, n)
		}
	}
	for _, n := range c.channels {
		if !inSet(names, n) {
			removed = append(removed, n)
		}
	}
	c.channels = names
	if c.probe != nil {
		// Simpler to try again later than to keep two wires in step.
		c.probeFailedLocked(c.probe)
	}
	a := c.cur
	switch {
	case a == nil:
		// Waiting: the next attempt takes the new set.
	case a.kind == KindWebSocket:
		if !a.opened {
			break // Opened subscribes to the whole set
		}
		if len(added) > 0 {
			f := shared.Frame{Type: shared.TypeSubscribe, Ref: c.nextRef('s'), Channels: added}
			if !a.subSent {
				f.LastEventID = c.cursor.Last()
				a.subSent = true
			}
			c.sendLocked(a, &f)
		}
		if len(removed) > 0 {
			c.sendLocked(a, &shared.Frame{Type: shared.TypeUnsubscribe, Ref: c.nextRef('u'), Channels: removed})
		}
	default:
		if c.resubTimer == nil {
			c.resubTimer = c.clk.AfterFunc(resubscribeDelay, c.resubscribeDue)
		}
	}
	return nil
}

// resubscribeDue reopens the SSE stream with the current channel set.
func (c *Conn) resubscribeDue() {
	c.lock()
	defer c.unlock()
	c.resubTimer = nil
	a := c.cur
	if a == nil || a.kind != KindSSE || c.state == StateClosed {
		return
	}
	// A reopening is no failure: no backoff, and the state stays. An
	// attempt that was not live yet keeps its place in auto mode's round.
	c.dropLocked(a, shared.CodeNormal, "")
	c.dialLocked()
}
