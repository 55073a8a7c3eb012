//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"

	"github.com/duet-rt/duet/wasm/eventsource"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport/jsbind"
)

// version is the client's version, set at link time with
// -ldflags=-X=main.version=….
var version = "dev"

// The API the loader reads, on globalThis.__duet:
//
//	{
//	  version: "dev",
//	  eventSource: {open(url, withCredentials, init, emit) → id, close(id)},  // see wasm/eventsource
//	  connect(baseURL, options) → connection,                                   // see wasm/transport/jsbind
//	}
//
// Functions that would throw return the marker of jsw.Throw instead, which
// the loader unwraps and throws; a panic inside one is recovered and thrown
// the same way, so a bug surfaces as a JavaScript exception rather than a
// dead program.
func main() {
	// The loader's marks (duet:instantiated) and these two split start-up
	// into the Go runtime with the package inits, and the API's
	// registration.
	jsw.Mark("duet:go-main")
	api := jsw.NewObject()
	api.Set("version", version)
	es := jsw.NewObject()
	es.Set("open", export("EventSource", 4, eventsource.OpenJS))
	es.Set("close", export("EventSource.close", 1, eventsource.CloseJS))
	api.Set("eventSource", es)
	api.Set("connect", exportAny("Duet.connect", 1, jsbind.Connect))

	global := js.Global()
	global.Set("__duet", api)
	jsw.Mark("duet:api")
	// The loader sets __duetReady before running the program and waits for
	// the call.
	if ready := global.Get("__duetReady"); jsw.IsFunction(ready) {
		global.Delete("__duetReady")
		ready.Invoke(api)
	}
	select {} // serve calls for the life of the page
}

// export wraps fn as a JavaScript function named name that needs at least
// minArgs arguments: fewer throw a TypeError, an error from fn is thrown,
// and so is a panic, recovered.
func export(name string, minArgs int, fn func(this js.Value, args []js.Value) (any, error)) js.Func {
	return exportAny(name, minArgs, func(this js.Value, args []js.Value) any {
		v, err := fn(this, args)
		if err != nil {
			return jsw.Throw(jsw.NewError(err))
		}
		return v
	})
}

// exportAny is export for functions that make their own JavaScript result,
// throw marker included.
func exportAny(name string, minArgs int, fn func(this js.Value, args []js.Value) any) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) (result any) {
		if len(args) < minArgs {
			return jsw.Throw(jsw.NewTypeError(argCountMessage(name, minArgs, len(args))))
		}
		defer func() {
			if r := recover(); r != nil {
				err := jsw.PanicError(r)
				if c := js.Global().Get("console"); jsw.IsObject(c) {
					c.Call("error", "duet: "+name+": "+err.Error())
				}
				result = jsw.Throw(jsw.NewError(err))
			}
		}()
		return fn(this, args)
	})
}

// argCountMessage is the browsers' wording for too few arguments.
func argCountMessage(name string, want, got int) string {
	s := "s"
	if want == 1 {
		s = ""
	}
	return "Failed to execute '" + name + "': " + strconv.Itoa(want) + " argument" + s +
		" required, but only " + strconv.Itoa(got) + " present."
}
