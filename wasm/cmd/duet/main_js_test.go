package main

import (
	"errors"
	"syscall/js"
	"testing"
)

var throwKey = js.Global().Get("Symbol").Call("for", "duet.throw")

// thrown returns the exception a result asks the loader to throw, or
// undefined when it is a plain result.
func thrown(r js.Value) js.Value {
	if r.Type() != js.TypeObject || !js.Global().Get("Reflect").Call("has", r, throwKey).Bool() {
		return js.Undefined()
	}
	return js.Global().Get("Reflect").Call("get", r, throwKey)
}

func TestExport(t *testing.T) {
	f := export("Thing.do", 2, func(_ js.Value, args []js.Value) (any, error) {
		switch args[0].String() {
		case "ok":
			return "fine", nil
		case "err":
			return nil, errors.New("duet/x: refused")
		}
		panic("kaboom")
	})
	defer f.Release()

	if r := f.Invoke("ok", 1); r.String() != "fine" || !thrown(r).IsUndefined() {
		t.Fatalf("ok: %v", r)
	}
	exc := thrown(f.Invoke("ok"))
	if exc.Get("name").String() != "TypeError" ||
		exc.Get("message").String() != "Failed to execute 'Thing.do': 2 arguments required, but only 1 present." {
		t.Fatalf("too few arguments: %v", exc)
	}
	if exc := thrown(f.Invoke("err", 1)); exc.Get("message").String() != "duet/x: refused" {
		t.Fatalf("error: %v", exc)
	}
	// A panic is thrown, and the program lives on.
	if exc := thrown(f.Invoke("panic", 1)); exc.Get("message").String() != "duet: internal error (panic): kaboom" {
		t.Fatalf("panic: %v", exc)
	}
	if r := f.Invoke("ok", 1); r.String() != "fine" {
		t.Fatal("not callable after a panic")
	}
}

func TestArgCountMessage(t *testing.T) {
	if got := argCountMessage("Duet.connect", 1, 0); got != "Failed to execute 'Duet.connect': 1 argument required, but only 0 present." {
		t.Fatal(got)
	}
}
