//go:build js && wasm

package js

import (
	"context"
	"errors"
	"strings"
	"syscall/js"
)

// Error is a JavaScript exception or promise rejection as a Go error.
type Error struct {
	// Op is what was being done ("fetch", "read", "WebSocket"...). May be empty.
	Op string
	// Name is the thrown error's name ("TypeError", "AbortError",
	// "NetworkError"...); empty when the thrown value was not an object.
	Name string
	// Message is the thrown error's message, or the thrown value as a string.
	Message string
	// Value is the thrown value itself.
	Value Value
}

func (e *Error) Error() string {
	s := "duet/js: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	if e.Name != "" {
		s += e.Name + ": "
	}
	return s + e.Message
}

// ErrorOf returns the Go error for v, a value JavaScript threw or rejected
// a promise with, as met while doing op.
func ErrorOf(op string, v Value) *Error {
	e := &Error{Op: op, Value: v}
	if IsObject(v) {
		e.Name = stringProp(v, "name")
		e.Message = stringProp(v, "message")
		if e.Name == "" && e.Message == "" {
			e.Message = safeString(v)
		}
	} else {
		e.Message = safeString(v)
	}
	return e
}

func stringProp(v Value, name string) string {
	p := v.Get(name)
	if p.Type() != js.TypeString {
		return ""
	}
	return p.String()
}

// safeString converts v with JavaScript's String(v), which can itself throw
// (a Symbol, an object with a throwing toString).
func safeString(v Value) (s string) {
	defer func() {
		if recover() != nil {
			s = "(unprintable value)"
		}
	}()
	if v.Type() == js.TypeString {
		return v.String()
	}
	return global.Call("String", v).String()
}

// Try runs f and returns, as an *Error, the JavaScript exception that a
// syscall/js call inside it threw, or the misuse syscall/js itself refused
// (calling what is not a function, Int of a string...) as a TypeError.
// Other panics go on unwinding.
func Try(op string, f func()) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		switch r := r.(type) {
		case js.Error:
			err = ErrorOf(op, r.Value)
			return
		case *js.ValueError:
			err = &Error{Op: op, Name: "TypeError", Message: r.Error(), Value: NewTypeError(r.Error())}
			return
		case string:
			if strings.HasPrefix(r, "syscall/js: ") {
				err = &Error{Op: op, Name: "TypeError", Message: r, Value: NewTypeError(r)}
				return
			}
		}
		panic(r)
	}()
	f()
	return nil
}

// Call calls v[method](args...) and returns what it threw as an error.
func Call(v Value, method string, args ...any) (r Value, err error) {
	err = Try(method, func() { r = v.Call(method, args...) })
	return r, err
}

// Invoke calls the function v and returns what it threw as an error.
func Invoke(v Value, args ...any) (r Value, err error) {
	err = Try("", func() { r = v.Invoke(args...) })
	return r, err
}

// New calls new ctor(args...) and returns what it threw as an error.
func New(ctor Value, args ...any) (r Value, err error) {
	err = Try("new", func() { r = ctor.New(args...) })
	return r, err
}

// IsAbort reports whether err is an aborted operation: a context that
// ended, or a JavaScript AbortError or TimeoutError.
func IsAbort(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && (e.Name == "AbortError" || e.Name == "TimeoutError")
}

// NewError returns a JavaScript Error for err. An *Error that carries a
// thrown object gives that object back, so exceptions cross the boundary
// unchanged; any other error becomes new Error(err.Error()).
func NewError(err error) Value {
	var e *Error
	if errors.As(err, &e) && IsObject(e.Value) {
		return e.Value
	}
	return errorCtor.New(err.Error())
}

// NewTypeError returns a new JavaScript TypeError with message msg.
func NewTypeError(msg string) Value { return global.Get("TypeError").New(msg) }

// NewDOMException returns a new DOMException named name ("SyntaxError",
// "InvalidStateError"...), or an Error with that name where DOMException
// does not exist.
func NewDOMException(msg, name string) Value {
	if c := global.Get("DOMException"); IsFunction(c) {
		return c.New(msg, name)
	}
	e := errorCtor.New(msg)
	e.Set("name", name)
	return e
}

// throwKey marks the result of a Go function exported to JavaScript as an
// exception to throw; see Throw.
var throwKey = global.Get("Symbol").Call("for", "duet.throw")

// Throw returns what a Go function exported to JavaScript returns to make
// its caller throw exc (a JavaScript Error, typically from NewError or
// NewTypeError). syscall/js has no way to throw, so the value is an object
// {[Symbol.for("duet.throw")]: exc} that Duet's loader (duet.js) unwraps and
// throws; see Unwrap in duet.js.
func Throw(exc Value) Value {
	m := object.New()
	global.Get("Reflect").Call("set", m, throwKey, exc)
	return m
}

// TypeError returns an error that crosses into JavaScript as a TypeError
// with message msg: what an API exported to JavaScript returns for a bad
// argument, as a browser API would throw.
func TypeError(msg string) error {
	return &Error{Name: "TypeError", Message: msg, Value: NewTypeError(msg)}
}
