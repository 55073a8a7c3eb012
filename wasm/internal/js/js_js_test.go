package js_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

func eval(src string) jsw.Value {
	return jsw.Global().Call("eval", src)
}

func TestAwait(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Second)
	v, err := jsw.Await(ctx, eval(`Promise.resolve(42)`))
	if err != nil || v.Int() != 42 {
		t.Fatalf("resolved: %v, %v", v, err)
	}
	v, err = jsw.Await(ctx, jsw.ValueOf("not a promise"))
	if err != nil || v.String() != "not a promise" {
		t.Fatalf("plain value: %v, %v", v, err)
	}
	_, err = jsw.AwaitOp(ctx, "test", eval(`Promise.reject(new RangeError("too far"))`))
	var e *jsw.Error
	if !errors.As(err, &e) || e.Name != "RangeError" || e.Message != "too far" || e.Op != "test" {
		t.Fatalf("rejected: %#v", err)
	}
	if err.Error() != "duet/js: test: RangeError: too far" {
		t.Fatalf("message %q", err.Error())
	}
	_, err = jsw.Await(ctx, eval(`Promise.reject("just a string")`))
	if !errors.As(err, &e) || e.Name != "" || e.Message != "just a string" {
		t.Fatalf("rejected with a string: %#v", err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = jsw.Await(short, eval(`new Promise(() => {})`))
	if !errors.Is(err, context.DeadlineExceeded) || !jsw.IsAbort(err) {
		t.Fatalf("never settling: %v", err)
	}
}

func TestPromise(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Second)
	v, err := jsw.Await(ctx, jsw.Promise(func() (any, error) {
		time.Sleep(time.Millisecond) // may block: it runs in a goroutine
		return "done", nil
	}))
	if err != nil || v.String() != "done" {
		t.Fatalf("fulfilled: %v, %v", v, err)
	}
	_, err = jsw.Await(ctx, jsw.Promise(func() (any, error) { return nil, errors.New("duet/x: nope") }))
	if err == nil || !strings.Contains(err.Error(), "Error: duet/x: nope") {
		t.Fatalf("rejected: %v", err)
	}
	_, err = jsw.Await(ctx, jsw.Promise(func() (any, error) { panic("boom") }))
	if err == nil || !strings.Contains(err.Error(), "(panic): boom") {
		t.Fatalf("panicked: %v", err)
	}
	d := jsw.NewDeferred()
	later(time.Millisecond, func() { d.Resolve(7); d.Resolve(8) })
	if v, err := jsw.Await(ctx, d.Promise); err != nil || v.Int() != 7 {
		t.Fatalf("deferred: %v, %v", v, err)
	}
}

func TestTryAndCall(t *testing.T) {
	_, err := jsw.Call(jsw.Global(), "noSuchFunction")
	var e *jsw.Error
	if !errors.As(err, &e) || e.Name != "TypeError" {
		t.Fatalf("Call: %#v", err)
	}
	_, err = jsw.New(jsw.Global().Get("URL"), "not a url")
	if !errors.As(err, &e) || e.Name != "TypeError" {
		t.Fatalf("New: %#v", err)
	}
	if v, err := jsw.Call(jsw.Global().Get("Math"), "max", 1, 3); err != nil || v.Int() != 3 {
		t.Fatalf("Call ok: %v %v", v, err)
	}
	// A thrown exception crosses back unchanged.
	exc := jsw.NewError(e)
	if !exc.Equal(e.Value) {
		t.Fatal("NewError of an *Error is not the thrown value")
	}
	if jsw.NewError(errors.New("plain")).Get("message").String() != "plain" {
		t.Fatal("NewError of a plain error")
	}
}

func TestThrowMarker(t *testing.T) {
	m := jsw.Throw(jsw.NewTypeError("bad"))
	exc := jsw.Global().Get("Reflect").Call("get", m, jsw.Global().Get("Symbol").Call("for", "duet.throw"))
	if exc.Get("name").String() != "TypeError" || exc.Get("message").String() != "bad" {
		t.Fatalf("marker holds %v", exc)
	}
	te := jsw.TypeError("duet/x: bad arg")
	if jsw.NewError(te).Get("name").String() != "TypeError" {
		t.Fatal("TypeError does not cross as a TypeError")
	}
}

func TestBytes(t *testing.T) {
	b := []byte{0, 1, 2, 250, 255}
	a := jsw.Uint8Array(b)
	if a.Length() != 5 || a.Index(3).Int() != 250 {
		t.Fatal("Uint8Array")
	}
	if got := jsw.Bytes(a); string(got) != string(b) {
		t.Fatalf("Bytes(Uint8Array) = %v", got)
	}
	if got := jsw.Bytes(a.Get("buffer")); string(got) != string(b) {
		t.Fatalf("Bytes(ArrayBuffer) = %v", got)
	}
	view := jsw.Global().Get("DataView").New(a.Get("buffer"), 1, 3)
	if got := jsw.Bytes(view); string(got) != string(b[1:4]) {
		t.Fatalf("Bytes(DataView) = %v", got)
	}
	if jsw.Bytes(jsw.ValueOf("str")) != nil || jsw.Bytes(jsw.Undefined()) != nil {
		t.Fatal("Bytes of a non-buffer")
	}
}

func TestAddEventListener(t *testing.T) {
	target := jsw.Global().Get("EventTarget").New()
	fire := func() { target.Call("dispatchEvent", jsw.Global().Get("Event").New("ping")) }
	n, once := 0, 0
	remove := jsw.AddEventListener(target, "ping", func(ev jsw.Value) {
		if ev.Get("type").String() != "ping" {
			t.Error("wrong event")
		}
		n++
	}, nil)
	jsw.AddEventListener(target, "ping", func(jsw.Value) { once++ }, &jsw.ListenerOptions{Once: true})
	fire()
	fire()
	remove()
	remove() // idempotent
	fire()
	if n != 2 || once != 1 {
		t.Fatalf("listener ran %d times, once-listener %d times", n, once)
	}

	ctx := ctxTimeout(t, 5*time.Second)
	later(5*time.Millisecond, fire)
	ev, err := jsw.WaitEvent(ctx, target, "pong", "ping")
	if err != nil || ev.Get("type").String() != "ping" {
		t.Fatalf("WaitEvent: %v %v", ev, err)
	}
}

func TestTimers(t *testing.T) {
	fired := make(chan struct{}, 10)
	jsw.SetTimeout(func() { fired <- struct{}{} }, time.Millisecond)
	cancel := jsw.SetTimeout(func() { t.Error("canceled timeout fired") }, 5*time.Millisecond)
	cancel()
	cancel()
	ticks := 0
	var stop func()
	stop = jsw.SetInterval(func() {
		if ticks++; ticks == 3 {
			stop()
			fired <- struct{}{}
		}
	}, time.Millisecond)
	jsw.QueueMicrotask(func() { fired <- struct{}{} })
	for i := 0; i < 3; i++ {
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatal("a timer did not fire")
		}
	}
	time.Sleep(20 * time.Millisecond)
	if ticks != 3 {
		t.Fatalf("interval ticked %d times after stop", ticks)
	}
}

func TestBroadcastChannel(t *testing.T) {
	a, err := jsw.NewBroadcastChannel("duet-test")
	if errors.Is(err, jsw.ErrNoBroadcastChannel) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := jsw.NewBroadcastChannel("duet-test")
	defer a.Close()
	defer b.Close()
	got := make(chan string, 1)
	remove := b.OnMessage(func(data jsw.Value) { got <- data.String() })
	defer remove()
	if err := a.Post("hello"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
}

func TestMissingBrowserAPIs(t *testing.T) {
	// Node 20 has neither WebSocket nor navigator.locks; newer ones may.
	if !jsw.IsFunction(jsw.Global().Get("WebSocket")) {
		if _, err := jsw.NewWebSocket("ws://127.0.0.1:1/"); !errors.Is(err, jsw.ErrNoWebSocket) {
			t.Fatalf("NewWebSocket = %v", err)
		}
	}
	if !jsw.LocksSupported() {
		if _, err := jsw.RequestLock(context.Background(), "x", nil); !errors.Is(err, jsw.ErrNoLocks) {
			t.Fatalf("RequestLock = %v", err)
		}
	}
	if jsw.Hidden() || !jsw.Online() {
		t.Fatal("Node is neither hidden nor offline")
	}
	jsw.OnVisibilityChange(func(bool) {})() // no document: a no-op
}

func TestFetchStream(t *testing.T) {
	url := nodeServer(t, func(req, res jsw.Value) {
		if req.Get("headers").Get("x-test").String() != "yes" || req.Get("method").String() != "POST" {
			res.Set("statusCode", 400)
			res.Call("end")
			return
		}
		res.Call("writeHead", 201, map[string]any{"Content-Type": "text/event-stream; charset=utf-8", "X-Reply": "r"})
		res.Call("flushHeaders")
		go func() {
			for _, s := range []string{"one", "two", "three"} {
				res.Call("write", s)
				time.Sleep(20 * time.Millisecond)
			}
			res.Call("end")
		}()
	})
	ctx := ctxTimeout(t, 10*time.Second)
	r, err := jsw.Fetch(ctx, url+"/stream", &jsw.FetchOptions{
		Method:  "POST",
		Headers: [][2]string{{"X-Test", "yes"}},
		Body:    []byte("body"),
		Cache:   "no-store",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Status != 201 || r.MediaType() != "text/event-stream" || r.Header("x-reply") != "r" || r.Header("missing") != "" {
		t.Fatalf("status %d, type %q", r.Status, r.ContentType())
	}
	var chunks []string
	for {
		b, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, string(b))
	}
	if strings.Join(chunks, "") != "onetwothree" || len(chunks) < 2 {
		t.Fatalf("chunks %q", chunks)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("Read after EOF = %v", err)
	}
}

func TestFetchAbort(t *testing.T) {
	closed := make(chan struct{}, 1)
	url := nodeServer(t, func(req, res jsw.Value) {
		res.Call("writeHead", 200, map[string]any{"Content-Type": "text/plain"})
		res.Call("write", "first")
		var onClose jsw.Func
		onClose = jsw.FuncOf(func(jsw.Value, []jsw.Value) any { // res is a Node EventEmitter
			closed <- struct{}{}
			onClose.Release()
			return nil
		})
		res.Call("once", "close", onClose)
		// Then nothing: the client must give up.
	})
	ctx, cancel := context.WithCancel(context.Background())
	r, err := jsw.Fetch(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := r.Read(); err != nil || string(b) != "first" {
		t.Fatalf("first read: %q %v", b, err)
	}
	later(10*time.Millisecond, cancel)
	if _, err := r.Read(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v", err)
	}
	r.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see the connection close")
	}
}

func TestResponseCloseWhileReading(t *testing.T) {
	url := nodeServer(t, func(req, res jsw.Value) {
		res.Call("writeHead", 200, map[string]any{"Content-Type": "text/plain"})
		res.Call("flushHeaders")
	})
	r, err := jsw.Fetch(ctxTimeout(t, 10*time.Second), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	later(10*time.Millisecond, r.Close)
	if _, err := r.Read(); !errors.Is(err, jsw.ErrClosed) {
		t.Fatalf("Read = %v, want ErrClosed", err)
	}
}

func TestFetchNetworkError(t *testing.T) {
	_, err := jsw.Fetch(ctxTimeout(t, 10*time.Second), "http://127.0.0.1:1/", nil)
	var e *jsw.Error
	if !errors.As(err, &e) || e.Name != "TypeError" || e.Op != "fetch" {
		t.Fatalf("Fetch = %#v", err)
	}
	_, err = jsw.Fetch(context.Background(), "http://127.0.0.1:1/", &jsw.FetchOptions{Headers: [][2]string{{"bad name", "x"}}})
	if !errors.As(err, &e) || e.Name != "TypeError" {
		t.Fatalf("bad header: %#v", err)
	}
}

func TestMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"text/event-stream":                  "text/event-stream",
		" Text/Event-Stream ; charset=utf-8": "text/event-stream",
		"":                                   "",
	} {
		if got := jsw.MediaType(in); got != want {
			t.Errorf("MediaType(%q) = %q", in, got)
		}
	}
}
