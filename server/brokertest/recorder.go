package brokertest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
)

// Recorder is a server.Subscriber that records, in call order, what a broker
// hands it. Its methods never block, as the Subscriber contract requires.
type Recorder struct {
	mu      sync.Mutex // guards the fields below
	calls   []call
	refuse  bool          // Deliver returns false (a full queue)
	changed chan struct{} // capacity 1: something was recorded
}

// call is one Deliver (msg) or Resumed (resume) call.
type call struct {
	msg    *server.Message
	resume *server.Resume
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{}, 1)} }

// Deliver implements server.Subscriber.
func (r *Recorder) Deliver(m *server.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.calls = append(r.calls, call{msg: m})
	r.signal()
	return true
}

// Resumed implements server.Subscriber.
func (r *Recorder) Resumed(res *server.Resume) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{resume: res})
	r.signal()
	return true
}

func (r *Recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Refuse makes Deliver report a full queue (and record nothing).
func (r *Recorder) Refuse(refuse bool) {
	r.mu.Lock()
	r.refuse = refuse
	r.mu.Unlock()
}

// Resumes returns the Resumed calls so far.
func (r *Recorder) Resumes() []*server.Resume {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*server.Resume
	for _, c := range r.calls {
		if c.resume != nil {
			out = append(out, c.resume)
		}
	}
	return out
}

// Received returns every message handed over so far, in the order a client
// would see it: the messages of each Resume where it was called, and the
// delivered ones.
func (r *Recorder) Received() []*server.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*server.Message
	for _, c := range r.calls {
		if c.resume != nil {
			out = append(out, c.resume.Messages...)
		} else {
			out = append(out, c.msg)
		}
	}
	return out
}

// Delivered returns the messages of Deliver calls only.
func (r *Recorder) Delivered() []*server.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*server.Message
	for _, c := range r.calls {
		if c.msg != nil {
			out = append(out, c.msg)
		}
	}
	return out
}

// WaitFor waits until ok holds for the messages received so far, and fails
// the test after timeout.
func (r *Recorder) WaitFor(t testing.TB, what string, timeout time.Duration, ok func(received []*server.Message) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if ok(r.Received()) {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("waited %v for %s; received %v", timeout, what, IDs(r.Received()))
		}
	}
}

// WaitForID waits until a message with the id id was received.
func (r *Recorder) WaitForID(t testing.TB, id string) {
	t.Helper()
	r.WaitFor(t, "message "+id, waitTimeout, func(ms []*server.Message) bool {
		return slices.ContainsFunc(ms, func(m *server.Message) bool { return m.Envelope.ID == id })
	})
}

// IDs returns the ids of ms.
func IDs(ms []*server.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Envelope.ID)
	}
	return out
}
