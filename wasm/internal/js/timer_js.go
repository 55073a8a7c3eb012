//go:build js && wasm

package js

import (
	"sync"
	"syscall/js"
	"time"
)

// Go's own timers (time.AfterFunc, time.Sleep, time.NewTimer) work in the
// browser and are the right choice inside Go code. These wrappers are for
// when the callback must run as a JavaScript task of its own, on the event
// loop, like a page's own timers: they share the browser's throttling of
// background tabs, and fn may call JavaScript that expects a fresh task.

// SetTimeout calls fn once after d, on the event loop; fn must not block.
// cancel stops it if it has not run yet and releases its js.Func; it may be
// called more than once, and after fn ran.
func SetTimeout(fn func(), d time.Duration) (cancel func()) {
	var (
		once sync.Once
		f    js.Func
		id   Value
	)
	release := func(clear bool) {
		once.Do(func() {
			if clear {
				global.Call("clearTimeout", id)
			}
			f.Release()
		})
	}
	f = js.FuncOf(func(Value, []Value) any {
		release(false)
		fn()
		return nil
	})
	id = global.Call("setTimeout", f, d.Milliseconds())
	return func() { release(true) }
}

// SetInterval calls fn every d, on the event loop, until cancel is called;
// fn must not block. cancel releases the js.Func and may be called more
// than once, and from inside fn.
func SetInterval(fn func(), d time.Duration) (cancel func()) {
	var once sync.Once
	f := js.FuncOf(func(Value, []Value) any {
		fn()
		return nil
	})
	id := global.Call("setInterval", f, d.Milliseconds())
	return func() {
		once.Do(func() {
			global.Call("clearInterval", id)
			f.Release()
		})
	}
}

// QueueMicrotask calls fn once the current JavaScript task has finished,
// before the event loop moves on (queueMicrotask); fn must not block. It is
// how a Go function called from JavaScript defers work until its caller's
// synchronous code, a constructor say, has run to the end: a goroutine
// started directly would run before the call returns.
func QueueMicrotask(fn func()) {
	var f js.Func
	f = js.FuncOf(func(Value, []Value) any {
		f.Release()
		fn()
		return nil
	})
	global.Call("queueMicrotask", f)
}
