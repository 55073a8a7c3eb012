package transport

import "github.com/duet-rt/duet/shared"

// Cursor is a resume position: the id of the last message delivered, which
// a reconnection sends back, and the rule that drops a message delivered
// before. Ids are opaque to clients except for this rule: an id of the same
// epoch as the last one and not after it is a duplicate (a replay that
// overlaps what was seen, or the same message relayed twice). An id of
// another epoch is new: the server restarted, and its gap notice said so.
//
// The zero value is a cursor with no position.
type Cursor struct {
	last string
	id   shared.ID
	ok   bool // last parsed as an ID
}

// NewCursor returns a cursor standing at last ("" for none).
func NewCursor(last string) Cursor {
	var c Cursor
	c.Jump(last)
	return c
}

// Last returns the id to resume from, "" for none.
func (c *Cursor) Last() string { return c.last }

// Accept reports whether a message with id is new and, if it is, moves the
// cursor to it. A message without an id, or with one that does not parse,
// cannot be checked: it is accepted and leaves the cursor where it was, so
// the messages after it are still checked against the last good id (and a
// reconnection resumes from an id the server can read).
func (c *Cursor) Accept(id string) bool {
	if id == "" {
		return true
	}
	p, err := shared.ParseID(id)
	if err != nil {
		return true
	}
	if c.ok && p.Epoch == c.id.Epoch && p.Seq <= c.id.Seq {
		return false
	}
	c.last, c.id, c.ok = id, p, true
	return true
}

// Jump moves the cursor to id unconditionally, as a gap notice does.
func (c *Cursor) Jump(id string) {
	c.last = id
	c.id, c.ok = shared.ID{}, false
	if p, err := shared.ParseID(id); err == nil {
		c.id, c.ok = p, true
	}
}
