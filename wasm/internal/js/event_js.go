//go:build js && wasm

package js

import (
	"context"
	"sync"
	"syscall/js"
)

// ListenerOptions are addEventListener's options. The zero value is a plain
// listener.
type ListenerOptions struct {
	// Once removes the listener, and releases its js.Func, after its first
	// event.
	Once bool
	// Passive promises not to call preventDefault.
	Passive bool
	// Capture listens in the capture phase.
	Capture bool
}

// AddEventListener calls fn for each event of type typ dispatched at target
// (an EventTarget: window, document, a WebSocket, a BroadcastChannel...).
// fn runs on the event loop and must not block.
//
// The returned remove unregisters fn and releases its js.Func. Calling it
// more than once, or from inside fn, is fine. A listener that is never
// removed keeps its js.Func for the life of the program.
func AddEventListener(target Value, typ string, fn func(ev Value), opts *ListenerOptions) (remove func()) {
	if opts == nil {
		opts = &ListenerOptions{}
	}
	var (
		once sync.Once
		f    js.Func
	)
	jsOpts := map[string]any{"capture": opts.Capture, "passive": opts.Passive}
	remove = func() {
		once.Do(func() {
			target.Call("removeEventListener", typ, f, map[string]any{"capture": opts.Capture})
			f.Release()
		})
	}
	f = js.FuncOf(func(_ Value, args []Value) any {
		if opts.Once {
			defer remove()
		}
		fn(Arg(args, 0))
		return nil
	})
	target.Call("addEventListener", typ, f, jsOpts)
	return remove
}

// WaitEvent waits for the first event of one of the types at target and
// returns it with its type, or ctx.Err(). The listeners are gone when it
// returns. It blocks: call it from a goroutine.
func WaitEvent(ctx context.Context, target Value, types ...string) (Value, error) {
	ch := make(chan Value, 1)
	removes := make([]func(), 0, len(types))
	for _, t := range types {
		removes = append(removes, AddEventListener(target, t, func(ev Value) {
			select {
			case ch <- ev:
			default:
			}
		}, nil))
	}
	defer func() {
		for _, r := range removes {
			r()
		}
	}()
	select {
	case ev := <-ch:
		return ev, nil
	case <-ctx.Done():
		return Undefined(), ctx.Err()
	}
}
