//go:build js && wasm

package js

import (
	"context"
	"errors"
	"syscall/js"
)

// settlement is how a promise ended: with a value, or rejected with one.
type settlement struct {
	value    Value
	rejected bool
}

// settle returns a channel that receives how p (any value; non-promises
// count as already fulfilled) settles. The channel is buffered, so nobody
// has to be listening. The two js.Funcs it uses are released when p
// settles; a promise that never settles keeps them.
func settle(p Value) <-chan settlement {
	ch := make(chan settlement, 1)
	var onOK, onErr js.Func
	done := func(s settlement) {
		ch <- s
		onOK.Release()
		onErr.Release()
	}
	onOK = js.FuncOf(func(_ Value, args []Value) any {
		done(settlement{value: Arg(args, 0)})
		return nil
	})
	onErr = js.FuncOf(func(_ Value, args []Value) any {
		done(settlement{value: Arg(args, 0), rejected: true})
		return nil
	})
	promiseCtor.Call("resolve", p).Call("then", onOK, onErr)
	return ch
}

// Await waits for the promise p to settle and returns its value, or its
// rejection as an *Error, or ctx.Err() if ctx ends first. Ending ctx does
// not cancel the operation behind p; the APIs of this package that start
// one (Fetch, RequestLock...) abort it themselves.
//
// Await blocks: call it from a goroutine, never from a callback.
func Await(ctx context.Context, p Value) (Value, error) {
	return AwaitOp(ctx, "", p)
}

// AwaitOp is Await naming the operation in the error.
func AwaitOp(ctx context.Context, op string, p Value) (Value, error) {
	if err := ctx.Err(); err != nil {
		// Nobody will wait for p: keep its rejection, the abort ctx most
		// likely caused, from being reported as unhandled.
		Ignore(p)
		return Undefined(), err
	}
	select {
	case s := <-settle(p):
		if s.rejected {
			if err := ctx.Err(); err != nil {
				// The rejection is most likely the abort that ctx caused.
				return Undefined(), err
			}
			return Undefined(), ErrorOf(op, s.value)
		}
		return s.value, nil
	case <-ctx.Done():
		return Undefined(), ctx.Err()
	}
}

// Ignore marks the promise p as handled, so that its rejection, if any, is
// not reported as an unhandled one. Anything other than a promise is left
// alone.
func Ignore(p Value) {
	if IsObject(p) && IsFunction(p.Get("catch")) {
		p.Call("catch", noop)
	}
}

// Promise returns a new JavaScript promise settled by fn, which runs in a
// goroutine of its own and so may block: fulfilled with fn's result
// (converted by ValueOf), or rejected with NewError(err). A panic in fn
// rejects the promise with an Error describing it instead of crashing the
// program.
func Promise(fn func() (any, error)) Value {
	var executor js.Func
	executor = js.FuncOf(func(_ Value, args []Value) any {
		resolve, reject := Arg(args, 0), Arg(args, 1)
		go func() {
			v, err := callRecovered(fn)
			if err != nil {
				reject.Invoke(NewError(err))
				return
			}
			if Try("resolve", func() { resolve.Invoke(ValueOf(v)) }) != nil {
				reject.Invoke(NewTypeError("duet: result cannot be converted to JavaScript"))
			}
		}()
		return nil
	})
	defer executor.Release() // the executor runs synchronously inside new Promise
	return promiseCtor.New(executor)
}

// Resolved returns a promise fulfilled with v.
func Resolved(v any) Value { return promiseCtor.Call("resolve", ValueOf(v)) }

// Rejected returns a promise rejected with NewError(err).
func Rejected(err error) Value { return promiseCtor.Call("reject", NewError(err)) }

// RejectedWith returns a promise rejected with the JavaScript value exc.
func RejectedWith(exc Value) Value { return promiseCtor.Call("reject", exc) }

// Deferred is a promise settled from Go: the equivalent of
// Promise.withResolvers(), which older browsers and Node 20 lack.
type Deferred struct {
	Promise Value
	resolve Value
	reject  Value
}

// NewDeferred returns a pending promise and the means to settle it.
// Settling it again has no effect.
func NewDeferred() *Deferred {
	d := &Deferred{}
	executor := js.FuncOf(func(_ Value, args []Value) any {
		d.resolve, d.reject = Arg(args, 0), Arg(args, 1)
		return nil
	})
	d.Promise = promiseCtor.New(executor)
	executor.Release()
	return d
}

// Resolve fulfils the promise with v (converted by ValueOf).
func (d *Deferred) Resolve(v any) { d.resolve.Invoke(ValueOf(v)) }

// Reject rejects the promise with NewError(err).
func (d *Deferred) Reject(err error) { d.reject.Invoke(NewError(err)) }

// RejectWith rejects the promise with the JavaScript value exc.
func (d *Deferred) RejectWith(exc Value) { d.reject.Invoke(exc) }

// errPanic is the error a recovered panic becomes.
type errPanic struct{ msg string }

func (e *errPanic) Error() string { return "duet: internal error (panic): " + e.msg }

// callRecovered calls fn, turning a panic into an error.
func callRecovered(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = PanicError(r)
		}
	}()
	return fn()
}

// PanicError returns the error a recovered panic value r stands for: a
// thrown JavaScript exception stays one (an *Error), anything else is
// described in an error that says a panic happened.
func PanicError(r any) error {
	switch r := r.(type) {
	case js.Error:
		return ErrorOf("", r.Value)
	case error:
		return &errPanic{r.Error()}
	case string:
		return &errPanic{r}
	}
	return &errPanic{"unknown value"}
}

// IsPanic reports whether err came from a recovered panic.
func IsPanic(err error) bool {
	var p *errPanic
	return errors.As(err, &p)
}
