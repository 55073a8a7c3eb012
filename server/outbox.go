package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/duet-rt/duet/shared"
)

// outbox is one connection's bounded queue: the Subscriber the broker
// delivers into, drained in batches by the connection's writer. It never
// blocks the publisher: when it is full it marks itself overflowed and the
// writer disconnects the client with CodeSlowConsumer (it will resume).
//
// The writer is either a loop that waits on wake, or (with startWriter) a
// goroutine started on demand when work arrives and gone as soon as the
// queue is empty, so that an idle connection has no writer at all.
type outbox struct {
	limit int
	// byteLimit bounds the bytes queued (msgBytes of the messages, replays
	// included, plus control frames); 0: no bound.
	byteLimit int64
	wake      chan struct{} // capacity 1: "there is something to write"
	// lastWrite is when the writer last wrote (Unix nanoseconds); the
	// heartbeat skips connections written to recently.
	lastWrite atomic.Int64

	mu       sync.Mutex // guards the fields below
	items    []item
	bytes    int64  // what items hold, as byteLimit counts it
	spare    []item // the previous batch's backing array, reused
	ping     bool   // a heartbeat is due
	overflow bool
	closed   bool
	// startWriter, when set, is a writer to run in its own goroutine,
	// counted by running; writing says one runs (it clears writing when it
	// finds nothing left to do).
	startWriter func()
	running     *sync.WaitGroup
	writing     bool
	// cutAt is set once a replay cut short (Resume.Continue) is queued:
	// nothing is queued after it, and the connection ends once it is
	// written. cutTaken says a writer has taken it.
	cutAt    shared.ID
	cutTaken bool
	// pending are the Subscribe calls in flight, oldest first: each
	// Resumed takes the next one (calls are serialised per connection).
	pending []pendingSubscribe
}

// pendingSubscribe is a Subscribe call whose Resumed has not come yet.
type pendingSubscribe struct {
	ref    string // the client's ref
	resume bool   // it asked to resume from an id
}

// item is one queued write: a message, a resume outcome or a control frame.
type item struct {
	msg    *Message
	resume *Resume
	frame  []byte // an encoded control frame (WebSocket only)
	ref    string // the client's ref of the subscribe a resume answers
	// resuming: resume answers a subscribe that asked to resume from an id.
	resuming bool
	// presence is a join or leave event (both wires).
	presence *presenceItem
}

// size is what it holds, as outbox.byteLimit counts it.
func (it *item) size() int64 {
	switch {
	case it.msg != nil:
		return msgBytes(it.msg)
	case it.resume != nil:
		var n int64
		for _, m := range it.resume.Messages {
			n += msgBytes(m)
		}
		return n
	}
	return int64(len(it.frame))
}

// newConnOutbox is a connection's outbox, with the configured bounds.
func (h *Hub) newConnOutbox() *outbox {
	o := newOutbox(h.cfg.QueueSize)
	o.byteLimit = h.cfg.QueueBytes
	return o
}

func newOutbox(limit int) *outbox {
	o := &outbox{limit: limit, wake: make(chan struct{}, 1)}
	o.lastWrite.Store(time.Now().UnixNano())
	return o
}

func (o *outbox) push(it item) bool {
	o.mu.Lock()
	if o.overflow || o.closed || !o.cutAt.IsZero() {
		o.mu.Unlock()
		return false
	}
	size := it.size()
	if len(o.items) >= o.limit || (o.byteLimit > 0 && len(o.items) > 0 && o.bytes+size > o.byteLimit) {
		o.overflow = true
		o.kickLocked()
		return false
	}
	o.items = append(o.items, it)
	o.bytes += size
	if it.resume != nil && !it.resume.Continue.IsZero() {
		o.cutAt = it.resume.Continue
	}
	o.kickLocked()
	return true
}

// kickLocked makes the writer look at the queue, starting one if it must;
// it unlocks o.mu.
func (o *outbox) kickLocked() {
	if o.startWriter != nil {
		// An on-demand writer takes until the queue is empty: one that
		// runs will see this push; none waits on wake.
		start, writer := !o.writing && !o.closed, o.startWriter
		if start {
			// Counted under mu: close takes mu, so a Wait that follows
			// close sees this writer (a heartbeat may kick the outbox
			// while the connection is torn down).
			o.writing = true
			o.running.Add(1)
		}
		o.mu.Unlock()
		if start {
			go writer()
		}
		return
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// heartbeat asks the writer for a heartbeat if nothing was written for
// quiet: a connection with traffic needs none.
func (o *outbox) heartbeat(now time.Time, quiet time.Duration) {
	if now.UnixNano()-o.lastWrite.Load() < int64(quiet) {
		return
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.ping = true
	o.kickLocked()
}

// onDemand switches the outbox to writers that run loop in a goroutine
// counted by running, and starts one at once if work is waiting. loop must
// return once take gives it nothing.
func (o *outbox) onDemand(running *sync.WaitGroup, loop func()) {
	writer := func() { // made once: each start is then allocation-free
		defer running.Done()
		loop()
	}
	o.mu.Lock()
	o.startWriter, o.running = writer, running
	if len(o.items) > 0 || o.ping || o.overflow {
		o.kickLocked()
		return
	}
	o.mu.Unlock()
}

// Deliver implements Subscriber.
func (o *outbox) Deliver(m *Message) bool { return o.push(item{msg: m}) }

// Resumed implements Subscriber. The replayed messages ride in one item,
// counted by their bytes against byteLimit: a replay that does not fit in
// what is left is cut short after the messages that do (at least one), and
// ends the connection at its Continue.
func (o *outbox) Resumed(r *Resume) bool {
	o.mu.Lock()
	var p pendingSubscribe
	if len(o.pending) > 0 {
		p, o.pending = o.pending[0], o.pending[1:]
	}
	if o.byteLimit > 0 {
		room, n, size := o.byteLimit-o.bytes, 0, int64(0)
		for ; n < len(r.Messages); n++ {
			s := msgBytes(r.Messages[n])
			if n > 0 && size+s > room {
				break
			}
			size += s
		}
		if n < len(r.Messages) {
			cut := *r
			cut.Messages = r.Messages[:n]
			cut.Continue = r.Messages[n-1].ID
			r = &cut
		}
	}
	o.mu.Unlock()
	return o.push(item{resume: r, ref: p.ref, resuming: p.resume})
}

// expectResume records a Subscribe call about to be made: the client's ref,
// and whether it resumes from an id.
func (o *outbox) expectResume(ref string, resume bool) {
	o.mu.Lock()
	o.pending = append(o.pending, pendingSubscribe{ref: ref, resume: resume})
	o.mu.Unlock()
}

// cancelResume forgets the ref of a Subscribe call that failed (and so never
// called Resumed).
func (o *outbox) cancelResume() {
	o.mu.Lock()
	if n := len(o.pending); n > 0 {
		o.pending = o.pending[:n-1]
	}
	o.mu.Unlock()
}

// work is what a writer takes in one go.
type work struct {
	batch    []item // valid until the next take
	ping     bool   // a heartbeat is due
	overflow bool   // messages were dropped after those in batch
	// cutAt, when not zero, says batch ends with a replay cut short: once
	// it is written the connection ends, telling the client to resume
	// from cutAt.
	cutAt shared.ID
}

func (w *work) empty() bool { return len(w.batch) == 0 && !w.ping && !w.overflow }

// take returns everything queued so far. An on-demand writer that gets
// nothing must return: take has recorded that no writer runs.
func (o *outbox) take() work {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.spare) // the writer is done with the previous batch: let its messages be collected
	w := work{batch: o.items, ping: o.ping, overflow: o.overflow}
	if !o.cutAt.IsZero() && !o.cutTaken && len(o.items) > 0 {
		w.cutAt, o.cutTaken = o.cutAt, true // the cut replay is the last item ever queued
	}
	o.items, o.spare, o.ping, o.bytes = o.spare[:0], o.items, false, 0
	if o.closed {
		w = work{}
	}
	if w.empty() {
		o.writing = false
		if cap(o.spare) > 64 { // an idle connection keeps no large queue
			o.items, o.spare = nil, nil
		}
	}
	return w
}

// wrote records that the writer wrote at now.
func (o *outbox) wrote(now time.Time) { o.lastWrite.Store(now.UnixNano()) }

// close makes later pushes fail and drops what is queued.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	clear(o.items)
	o.items = nil
	o.spare = nil
	o.mu.Unlock()
}
