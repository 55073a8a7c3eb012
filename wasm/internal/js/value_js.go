//go:build js && wasm

package js

import "syscall/js"

// The syscall/js names a caller needs most, so that a file can import this
// package alone. They are aliases: the types are the very same.
type (
	Value = js.Value
	Func  = js.Func
	Type  = js.Type
)

// TypeObject and TypeFunction are the syscall/js type constants used to test
// whether a value can have properties.
const (
	TypeObject   = js.TypeObject
	TypeFunction = js.TypeFunction
	TypeString   = js.TypeString
)

// Global returns the JavaScript global object (globalThis).
func Global() Value { return js.Global() }

// Undefined returns the JavaScript value undefined.
func Undefined() Value { return js.Undefined() }

// Null returns the JavaScript value null.
func Null() Value { return js.Null() }

// ValueOf is syscall/js.ValueOf, extended with []byte, which becomes a new
// Uint8Array holding a copy of the bytes.
func ValueOf(x any) Value {
	if b, ok := x.([]byte); ok {
		return Uint8Array(b)
	}
	return js.ValueOf(x)
}

// FuncOf is syscall/js.FuncOf. The function runs on the event loop and must
// not block; call Release when it will not be called again.
func FuncOf(fn func(this Value, args []Value) any) Func { return js.FuncOf(fn) }

// IsObject reports whether v is an object or a function, something that has
// properties; Get on anything else panics.
func IsObject(v Value) bool {
	t := v.Type()
	return t == js.TypeObject || t == js.TypeFunction
}

// IsFunction reports whether v can be called.
func IsFunction(v Value) bool { return v.Type() == js.TypeFunction }

// Nullish reports whether v is undefined or null.
func Nullish(v Value) bool { return v.IsUndefined() || v.IsNull() }

// Arg returns args[i], or undefined when there are fewer arguments, as a
// JavaScript function sees a missing argument.
func Arg(args []Value, i int) Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// Prop returns v[name], or undefined when v has no properties (undefined,
// null, a number...), so options objects can be read without checks.
func Prop(v Value, name string) Value {
	if !IsObject(v) {
		return js.Undefined()
	}
	return v.Get(name)
}

// Uint8Array returns a new Uint8Array holding a copy of b.
func Uint8Array(b []byte) Value {
	a := uint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// Bytes returns a copy of the bytes of v, a Uint8Array, any other
// ArrayBuffer view (DataView, Int16Array...) or an ArrayBuffer. It returns
// nil for anything else.
func Bytes(v Value) []byte {
	switch {
	case !IsObject(v):
		return nil
	case v.InstanceOf(uint8Array):
	case v.InstanceOf(arrayBuffer):
		v = uint8Array.New(v)
	case arrayBuffer.Call("isView", v).Bool():
		v = uint8Array.New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
	default:
		return nil
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}

// Constructors looked up once; they exist in every browser and in Node.
var (
	global      = js.Global()
	object      = global.Get("Object")
	promiseCtor = global.Get("Promise")
	uint8Array  = global.Get("Uint8Array")
	arrayBuffer = global.Get("ArrayBuffer")
	errorCtor   = global.Get("Error")
)

// NewObject returns a new empty JavaScript object.
func NewObject() Value { return object.New() }
