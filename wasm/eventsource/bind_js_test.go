package eventsource

import (
	"context"
	"strconv"
	"strings"
	"syscall/js"
	"testing"
	"time"

	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// These tests run under Node (go_js_wasm_exec), which has fetch: the
// binding streams from a Node http server, as it would in a browser.

// nodeServer serves each request with the next of answers (the last one
// repeats); an answer is "status content-type body", and a body of "HANG"
// never ends. It records the Last-Event-ID headers.
func nodeServer(t *testing.T, answers ...string) (url string, lastIDs func() []string) {
	t.Helper()
	var ids []string
	h := js.FuncOf(func(_ js.Value, args []js.Value) any {
		req, res := args[0], args[1]
		id := req.Get("headers").Get("last-event-id")
		if id.IsUndefined() {
			ids = append(ids, "-")
		} else {
			ids = append(ids, id.String())
		}
		a := answers[min(len(ids)-1, len(answers)-1)]
		parts := strings.SplitN(a, " ", 3)
		status, _ := strconv.Atoi(parts[0])
		res.Call("writeHead", status, map[string]any{"Content-Type": parts[1]})
		res.Call("flushHeaders")
		if parts[2] != "HANG" {
			res.Call("end", parts[2])
		}
		return nil
	})
	srv := jsw.Global().Get("require").Invoke("http").Call("createServer", h)
	d := jsw.NewDeferred()
	ready := js.FuncOf(func(js.Value, []js.Value) any { d.Resolve(nil); return nil })
	srv.Call("listen", 0, "127.0.0.1", ready)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := jsw.Await(ctx, d.Promise); err != nil {
		t.Fatal(err)
	}
	ready.Release()
	t.Cleanup(func() {
		srv.Call("closeAllConnections")
		srv.Call("close")
		h.Release()
	})
	return "http://127.0.0.1:" + strconv.Itoa(srv.Call("address").Get("port").Int()) + "/",
		func() []string { return append([]string(nil), ids...) }
}

// emitter is an emit function that records what the binding reports.
type emitter struct {
	fn     js.Func
	events chan string
}

func newEmitter(t *testing.T) *emitter {
	e := &emitter{events: make(chan string, 100)}
	e.fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
		var s string
		switch args[0].Int() {
		case emitOpen:
			s = "open"
		case emitMessage:
			s = "message " + args[1].String() + " " + args[2].String() + " id=" + args[3].String()
		case emitError:
			s = "error " + strconv.Itoa(args[1].Int())
		}
		e.events <- s
		return nil
	})
	t.Cleanup(e.fn.Release)
	return e
}

func (e *emitter) want(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-e.events:
			if got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %q", w)
		}
	}
}

func open(t *testing.T, url string, init js.Value, e *emitter) int {
	t.Helper()
	id, err := OpenJS(js.Undefined(), []js.Value{js.ValueOf(url), js.ValueOf(false), init, e.fn.Value})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseJS(js.Undefined(), []js.Value{js.ValueOf(id)}) })
	return id.(int)
}

func TestBindStreamAndReconnect(t *testing.T) {
	url, lastIDs := nodeServer(t,
		"200 text/event-stream retry: 10\nid: 1\ndata: a\n\nevent: e\ndata: b\n\n",
		"200 text/event-stream data: c\n\n",
		"404 text/plain no")
	e := newEmitter(t)
	init := jsw.Global().Get("Object").New()
	init.Set("headers", map[string]any{"X-A": "1"})
	open(t, url, init, e)
	e.want(t,
		"open", "message message a id=1", "message e b id=1", "error 0",
		"open", "message message c id=1", "error 0",
		"error 2")
	if got := strings.Join(lastIDs(), ","); got != "-,1,1" {
		t.Fatalf("Last-Event-IDs %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for OpenSources() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := OpenSources(); n != 0 {
		t.Fatalf("%d sources still running after failing", n)
	}
}

func TestBindClose(t *testing.T) {
	url, _ := nodeServer(t, "200 text/event-stream HANG")
	e := newEmitter(t)
	id := open(t, url, js.Undefined(), e)
	e.want(t, "open")
	CloseJS(js.Undefined(), []js.Value{js.ValueOf(id)})
	CloseJS(js.Undefined(), []js.Value{js.ValueOf(id)}) // again: nothing
	select {
	case ev := <-e.events:
		t.Fatalf("event after close: %s", ev)
	case <-time.After(50 * time.Millisecond):
	}
	if OpenSources() != 0 {
		t.Fatal("source still registered")
	}
}

func TestBindBadInit(t *testing.T) {
	e := newEmitter(t)
	obj := func(kv ...any) js.Value {
		o := jsw.NewObject()
		for i := 0; i < len(kv); i += 2 {
			o.Set(kv[i].(string), kv[i+1])
		}
		return o
	}
	tests := []struct {
		name string
		init js.Value
		want string
	}{
		{"not an object", js.ValueOf(3), "options must be an object"},
		{"GET with a body", obj("body", "x"), "GET request cannot have a body"},
		{"negative heartbeat", obj("heartbeatTimeout", -1), "heartbeatTimeout"},
		{"string reconnection time", obj("reconnectionTime", "3s"), "reconnectionTime"},
		{"fractional maxLineBytes", obj("maxLineBytes", 1.5), "maxLineBytes"},
		{"backoff string", obj("backoff", "yes"), "backoff"},
		{"backoff multiplier", obj("backoff", map[string]any{"multiplier": 0.5}), "multiplier"},
		{"bad header name", obj("headers", map[string]any{"a b": "c"}), "headers"},
		{"empty method", obj("method", ""), "method"},
		{"newline in lastEventId", obj("lastEventId", "a\nb"), "LastEventID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenJS(js.Undefined(), []js.Value{js.ValueOf("http://127.0.0.1:1/"), js.ValueOf(false), tt.init, e.fn.Value})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "duet/eventsource: ") {
				t.Fatalf("OpenJS = %v, want an error about %s", err, tt.want)
			}
			if jsw.NewError(err).Get("name").String() != "TypeError" {
				t.Fatalf("%v does not cross as a TypeError", err)
			}
		})
	}
	if _, err := OpenJS(js.Undefined(), nil); err == nil {
		t.Fatal("OpenJS without arguments")
	}
}

func TestBindOptions(t *testing.T) {
	o := jsw.NewObject()
	o.Set("method", "POST")
	o.Set("body", "b")
	o.Set("lastEventId", "9")
	o.Set("reconnectionTime", 250)
	o.Set("heartbeatTimeout", 1500.5)
	o.Set("backoff", map[string]any{"initialMs": 10, "maxMs": 100, "multiplier": 3, "resetAfterMs": 1000})
	o.Set("headers", jsw.Global().Call("eval", `() => Promise.resolve({"X-Token": "t"})`))
	opts, err := parseInit(o)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Method != "POST" || opts.LastEventID != "9" || opts.ReconnectDelay != 250*time.Millisecond ||
		opts.HeartbeatTimeout != 1500500*time.Microsecond {
		t.Fatalf("options %+v", opts)
	}
	if b := opts.Backoff; b == nil || b.Initial != 10*time.Millisecond || b.Max != 100*time.Millisecond || b.Multiplier != 3 || b.ResetAfter != time.Second {
		t.Fatalf("backoff %+v", opts.Backoff)
	}
	h, err := opts.Headers(context.Background())
	if err != nil || len(h) != 1 || h[0] != [2]string{"x-token", "t"} {
		t.Fatalf("headers %v %v", h, err)
	}
	o2 := jsw.NewObject()
	o2.Set("backoff", true)
	if opts, err := parseInit(o2); err != nil || opts.Backoff == nil {
		t.Fatalf("backoff: true: %+v %v", opts, err)
	}
}
