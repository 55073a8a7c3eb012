//go:build js && wasm

package js

import (
	"context"
	"errors"
	"sync"
	"syscall/js"
)

// LockOptions are navigator.locks.request's options. The zero value asks
// for an exclusive lock and waits for it.
type LockOptions struct {
	// Shared asks for a shared lock instead of an exclusive one.
	Shared bool
	// IfAvailable gives up at once, with ErrLockUnavailable, when the lock
	// is held.
	IfAvailable bool
	// Steal takes the lock from its holders, whose lock is released and
	// whose request promise rejects with an AbortError.
	Steal bool
}

var (
	// ErrNoLocks is returned where the Web Locks API does not exist (Node,
	// insecure contexts).
	ErrNoLocks = errors.New("duet/js: Web Locks are not available")
	// ErrLockUnavailable is returned by RequestLock with IfAvailable when
	// another holds the lock.
	ErrLockUnavailable = errors.New("duet/js: lock is held elsewhere")
)

// LocksSupported reports whether navigator.locks exists.
func LocksSupported() bool {
	return IsObject(locks())
}

func locks() Value {
	return Prop(global.Get("navigator"), "locks")
}

// Lock is a Web Lock held by this context.
type Lock struct {
	release func()
	lost    chan struct{}
}

// Release gives the lock up. It may be called more than once, and from a
// callback.
func (l *Lock) Release() { l.release() }

// Lost is closed when the lock is no longer held: released, stolen by
// another context's Steal, or ended with the context given to RequestLock.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// RequestLock waits until this context holds the Web Lock name (shared by
// all tabs and workers of the origin) and returns it. The lock is held
// until Release, until ctx ends, or until another context steals it; Lost
// tells which moment that is. Ending ctx while waiting withdraws the
// request and returns ctx.Err().
//
// RequestLock blocks: call it from a goroutine.
func RequestLock(ctx context.Context, name string, opts *LockOptions) (*Lock, error) {
	lm := locks()
	if !IsObject(lm) {
		return nil, ErrNoLocks
	}
	if opts == nil {
		opts = &LockOptions{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type grant struct {
		held bool
		hold *Deferred
	}
	granted := make(chan grant, 1)
	cb := js.FuncOf(func(_ Value, args []Value) any {
		if Arg(args, 0).IsNull() { // IfAvailable and not available
			granted <- grant{}
			return nil
		}
		hold := NewDeferred()
		granted <- grant{held: true, hold: hold}
		return hold.Promise // the lock is held until this settles
	})
	init := NewObject()
	if opts.Shared {
		init.Set("mode", "shared")
	}
	if opts.IfAvailable {
		init.Set("ifAvailable", true)
	}
	if opts.Steal {
		init.Set("steal", true)
	}
	var ac Value
	if !opts.IfAvailable && !opts.Steal { // signal cannot go with either
		ac = global.Get("AbortController").New()
		init.Set("signal", ac.Get("signal"))
	}
	p, err := Call(lm, "request", name, init, cb)
	if err != nil {
		cb.Release()
		return nil, err
	}
	// request's promise settles when the lock is released (or stolen), or
	// rejects at once on a bad request or an abort while waiting.
	ended := settle(p)

	select {
	case g := <-granted:
		cb.Release()
		if !g.held {
			return nil, ErrLockUnavailable
		}
		l := &Lock{lost: make(chan struct{})}
		var once sync.Once
		l.release = func() { once.Do(func() { g.hold.Resolve(nil) }) }
		stop := context.AfterFunc(ctx, l.release)
		go func() {
			<-ended
			stop()
			close(l.lost)
		}()
		return l, nil
	case s := <-ended:
		cb.Release()
		select {
		case g := <-granted: // the callback ran first; only "not available" ends this fast
			if !g.held {
				return nil, ErrLockUnavailable
			}
		default:
		}
		if !s.rejected {
			return nil, ErrLockUnavailable
		}
		return nil, ErrorOf("locks.request", s.value)
	case <-ctx.Done():
		if IsObject(ac) {
			ac.Call("abort")
		}
		// The request may have been granted in the meantime: give it back.
		go func() {
			select {
			case g := <-granted:
				if g.held {
					g.hold.Resolve(nil)
				}
			case <-ended:
			}
			cb.Release()
		}()
		return nil, ctx.Err()
	}
}
