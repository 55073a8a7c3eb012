package transport

import "sync"

// serial is a mutex with an outbox. State changes happen with the lock
// held; everything that calls out (a wire, a dialer, an observer) is queued
// with later and runs after the lock is released, in order, one at a time.
// A call-out that calls back in (an application handler that publishes)
// then finds the lock free, and what it queues runs after the call-outs
// queued before it, so the order the application sees is the order in
// which things happened.
type serial struct {
	mu sync.Mutex // guards out, running and the state of the embedding type
	// out holds the call-outs not run yet.
	out []func()
	// running is set while some caller of unlock is draining out; others
	// leave their call-outs to it.
	running bool
}

func (s *serial) lock() { s.mu.Lock() }

// later queues f to run after unlock. The lock must be held.
func (s *serial) later(f func()) { s.out = append(s.out, f) }

// unlock releases the lock and runs the queued call-outs, unless a caller
// further up the stack (or another goroutine) is already running them.
func (s *serial) unlock() {
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	for len(s.out) > 0 {
		f := s.out[0]
		s.out[0] = nil
		s.out = s.out[1:]
		s.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					// A panicking call-out must not leave the queue stuck
					// with running set; the panic goes on.
					s.mu.Lock()
					s.running = false
					s.mu.Unlock()
					panic(r)
				}
			}()
			f()
		}()
		s.mu.Lock()
	}
	s.out = nil
	s.running = false
	s.mu.Unlock()
}
