package js_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// nodeServer starts a Node http server on 127.0.0.1 (the tests run under
// Node, through go_js_wasm_exec) and returns its URL. handle is called on
// the event loop for each request with Node's req and res; it must not
// block, but may start goroutines that write to res.
func nodeServer(t *testing.T, handle func(req, res jsw.Value)) string {
	t.Helper()
	require := jsw.Global().Get("require")
	if !jsw.IsFunction(require) {
		t.Skip("not running under Node")
	}
	h := jsw.FuncOf(func(_ jsw.Value, args []jsw.Value) any {
		handle(args[0], args[1])
		return nil
	})
	srv := require.Invoke("http").Call("createServer", h)
	listening := jsw.NewDeferred()
	ready := jsw.FuncOf(func(jsw.Value, []jsw.Value) any {
		listening.Resolve(nil)
		return nil
	})
	srv.Call("listen", 0, "127.0.0.1", ready)
	if _, err := jsw.Await(ctxTimeout(t, 5*time.Second), listening.Promise); err != nil {
		t.Fatal(err)
	}
	ready.Release()
	t.Cleanup(func() {
		srv.Call("closeAllConnections")
		srv.Call("close")
		h.Release()
	})
	return "http://127.0.0.1:" + strconv.Itoa(srv.Call("address").Get("port").Int())
}

// ctxTimeout returns a context ended after d or with the test.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// later runs fn on the event loop after d, from a goroutine.
func later(d time.Duration, fn func()) {
	go func() {
		time.Sleep(d)
		fn()
	}()
}
