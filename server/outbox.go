package server

import (
	"sync"
)

// outbox is one connection's bounded queue: the Subscriber the broker
// delivers into, drained in batches by the connection's writer. It never
// blocks the publisher: when it is full it marks itself overflowed and the
// writer disconnects the client with CodeSlowConsumer (it will resume).
type outbox struct {
	limit int
	wake  chan struct{} // capacity 1: "there is something to write"

	mu       sync.Mutex // guards the fields below
	items    []item
	spare    []item // the previous batch's backing array, reused
	overflow bool
	closed   bool
	// refs are the client refs of Subscribe calls in flight, oldest first:
	// each Resumed takes the next one (calls are serialised per connection).
	refs []string
}

// item is one queued write: a message, a resume outcome or a control frame.
type item struct {
	msg    *Message
	resume *Resume
	frame  []byte // an encoded control frame (WebSocket only)
	ref    string // the client's ref of the subscribe a resume answers
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1)}
}

func (o *outbox) push(it item) bool {
	o.mu.Lock()
	if o.overflow || o.closed {
		o.mu.Unlock()
		return false
	}
	if len(o.items) >= o.limit {
		o.overflow = true
		o.mu.Unlock()
		o.signal()
		return false
	}
	o.items = append(o.items, it)
	o.mu.Unlock()
	o.signal()
	return true
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Deliver implements Subscriber.
func (o *outbox) Deliver(m *Message) bool { return o.push(item{msg: m}) }

// Resumed implements Subscriber. The replayed messages ride in one item, so
// a long replay does not count against the queue limit: it is bounded by
// history instead.
func (o *outbox) Resumed(r *Resume) bool {
	o.mu.Lock()
	var ref string
	if len(o.refs) > 0 {
		ref, o.refs = o.refs[0], o.refs[1:]
	}
	o.mu.Unlock()
	return o.push(item{resume: r, ref: ref})
}

// expectResume records the ref of a Subscribe call about to be made.
func (o *outbox) expectResume(ref string) {
	o.mu.Lock()
	o.refs = append(o.refs, ref)
	o.mu.Unlock()
}

// cancelResume forgets the ref of a Subscribe call that failed (and so never
// called Resumed).
func (o *outbox) cancelResume() {
	o.mu.Lock()
	if n := len(o.refs); n > 0 {
		o.refs = o.refs[:n-1]
	}
	o.mu.Unlock()
}

// take returns everything queued so far; the slice is valid until the next
// take. overflow reports that messages were dropped after those returned.
func (o *outbox) take() (batch []item, overflow bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.spare) // the writer is done with the previous batch: let its messages be collected
	batch, o.items = o.items, o.spare[:0]
	o.spare = batch
	return batch, o.overflow
}

// close makes later pushes fail and drops what is queued.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	clear(o.items)
	o.items = nil
	o.spare = nil
	o.mu.Unlock()
}
