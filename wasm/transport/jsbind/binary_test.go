//go:build js && wasm

package jsbind

import (
	"strconv"
	"strings"
	"syscall/js"
	"testing"
	"time"

	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// TestPublishBinarySSE publishes bytes on the SSE wire (a POST with base64
// data) and receives them back as a Uint8Array with binary set.
func TestPublishBinarySSE(t *testing.T) {
	port, err := await(t, eval(t, sseServer))
	if err != nil {
		t.Fatal(err)
	}
	defer eval(t, `(() => { for (const s of [globalThis.sseSrv]) s.closeAllConnections(), s.close(); })()`)
	opts := jsw.NewObject()
	opts.Set("transport", "sse")
	opts.Set("headers", map[string]any{"x-token": "fresh"})
	msgs := make(chan js.Value, 10)
	onMsg := js.FuncOf(func(_ js.Value, args []js.Value) any { msgs <- args[0]; return nil })
	defer onMsg.Release()
	conn := Connect(js.Undefined(), []js.Value{js.ValueOf("http://127.0.0.1:" + strconv.Itoa(port.Int())), opts}).(js.Value)
	defer conn.Call("close")
	conn.Call("subscribe", "a", onMsg)
	<-msgs // the server's first message, JSON

	for _, src := range []string{
		`new Uint8Array([0, 1, 255])`,
		`new Uint8Array([9, 0, 1, 255, 9]).subarray(1, 4)`, // a view: only its bytes
		`new Uint8Array([0, 1, 255]).buffer`,
	} {
		res, err := await(t, conn.Call("publishBinary", "a", eval(t, src), map[string]any{"event": "bin"}))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !strings.HasPrefix(res.Get("id").String(), "7-") {
			t.Fatalf("publish id %q", res.Get("id").String())
		}
		select {
		case m := <-msgs:
			data := m.Get("data")
			if !m.Get("binary").Bool() || !data.InstanceOf(js.Global().Get("Uint8Array")) || m.Get("event").String() != "bin" {
				t.Fatalf("%s: message %s", src, js.Global().Get("JSON").Call("stringify", m).String())
			}
			if got := string(jsw.Bytes(data)); got != "\x00\x01\xff" {
				t.Fatalf("%s: bytes %q", src, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no binary message")
		}
	}

	for _, bad := range []js.Value{js.ValueOf("text"), js.Undefined(), js.ValueOf(3)} {
		_, err := await(t, conn.Call("publishBinary", "a", bad))
		if err == nil || !strings.Contains(err.Error(), "must be a Uint8Array") {
			t.Fatalf("publishBinary(%v): %v", bad, err)
		}
	}
	_, err = await(t, conn.Call("publishBinary", "bad channel", eval(t, `new Uint8Array(1)`)))
	if err == nil || !strings.Contains(err.Error(), "forbidden character") {
		t.Fatalf("publishBinary to a bad channel: %v", err)
	}
}
