//go:build js && wasm

package jsbind

import (
	"context"
	"strconv"
	"strings"
	"syscall/js"
	"testing"
	"time"

	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport"
)

// These tests run under Node (go_js_wasm_exec): fetch and BroadcastChannel
// exist there; WebSocket and Web Locks do not (so connections are not
// shared). Real browsers are the Playwright specs' job.

func eval(t *testing.T, src string) js.Value {
	t.Helper()
	var v js.Value
	if err := jsw.Try("eval", func() { v = js.Global().Call("eval", src) }); err != nil {
		t.Fatal(err)
	}
	return v
}

func await(t *testing.T, p js.Value) (js.Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return jsw.Await(ctx, p)
}

func throws(v any) (js.Value, bool) {
	jv, ok := v.(js.Value)
	if !ok || !jsw.IsObject(jv) {
		return js.Undefined(), false
	}
	key := js.Global().Get("Symbol").Call("for", "duet.throw")
	if !js.Global().Get("Reflect").Call("has", jv, key).Bool() {
		return js.Undefined(), false
	}
	return js.Global().Get("Reflect").Call("get", jv, key), true
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		src  string
		err  string
		want func(*transport.Options) bool
	}{
		{"none", `undefined`, "", func(c *transport.Options) bool { return c.Mode == transport.ModeAuto }},
		{"all", `({transport: "sse", channels: ["b", "a"], lastEventId: "1-2", heartbeatTimeout: 1500,
			connectTimeout: 2000, publishTimeout: 3000, wsRetryAfter: 4000,
			backoff: {initialMs: 10, maxMs: 20, multiplier: 3, resetAfterMs: 30}})`, "",
			func(c *transport.Options) bool {
				return c.Mode == transport.ModeSSE && strings.Join(c.Channels, ",") == "b,a" && c.LastEventID == "1-2" &&
					c.HeartbeatTimeout == 1500*time.Millisecond && c.ConnectTimeout == 2*time.Second &&
					c.PublishTimeout == 3*time.Second && c.WSRetryAfter == 4*time.Second &&
					c.Backoff.Initial == 10*time.Millisecond && c.Backoff.Max == 20*time.Millisecond &&
					c.Backoff.Multiplier == 3 && c.Backoff.ResetAfter == 30*time.Millisecond
			}},
		{"one channel as a string", `({channels: "a"})`, "", func(c *transport.Options) bool { return len(c.Channels) == 1 }},
		{"bad transport", `({transport: "carrier pigeon"})`, `transport must be`, nil},
		{"bad channel", `({channels: ["a b"]})`, `forbidden character`, nil},
		{"channels not strings", `({channels: [1]})`, `array of strings`, nil},
		{"bad timeout", `({heartbeatTimeout: "soon"})`, `heartbeatTimeout must be`, nil},
		{"bad multiplier", `({backoff: {multiplier: 0.5}})`, `multiplier`, nil},
		{"not an object", `42`, `options must be an object`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseOptions(eval(t, tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(cfg) {
				t.Fatalf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestConnectRefusals(t *testing.T) {
	if _, ok := throws(Connect(js.Undefined(), []js.Value{js.ValueOf("/relative")})); !ok {
		t.Fatal("a relative base URL with no page to resolve it against must throw")
	}
	if _, ok := throws(Connect(js.Undefined(), []js.Value{js.ValueOf("http://127.0.0.1:1"), eval(t, `({transport: 1})`)})); !ok {
		t.Fatal("bad options must throw")
	}
	conn := Connect(js.Undefined(), []js.Value{js.ValueOf("http://127.0.0.1:1"), eval(t, `({transport: "sse", channels: ["a"], connectTimeout: 100})`)}).(js.Value)
	defer conn.Call("close")
	if exc, ok := throws(conn.Call("subscribe", "no spaces")); !ok || exc.Get("name").String() != "TypeError" {
		t.Fatal("subscribe with a bad name must throw a TypeError")
	}
	if _, ok := throws(conn.Call("on", "nope", js.FuncOf(func(js.Value, []js.Value) any { return nil }))); !ok {
		t.Fatal("on with an unknown type must throw")
	}
	_, err := await(t, conn.Call("publish", "bad channel", 1))
	if err == nil || !strings.Contains(err.Error(), "forbidden character") {
		t.Fatalf("publish to a bad channel: %v", err)
	}
	if v := conn.Get("shared").Bool(); v {
		t.Fatal("Node has no Web Locks: not shared")
	}
	if got := conn.Get("state").String(); got != "connecting" {
		t.Fatalf("state %q", got)
	}
}

// sseServer starts a Node HTTP server that speaks just enough of Duet's SSE
// and publish endpoints, and answers its first SSE request 401 unless the
// request carries the header x-token: fresh. It resolves to its port.
const sseServer = `(() => new Promise((resolve) => {
  const http = require("http");
  let seq = 1;
  const streams = [];
  const srv = http.createServer((req, res) => {
    if (req.url.startsWith("/rt/publish")) {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const p = JSON.parse(body);
        const id = "7-" + ++seq;
        const env = JSON.stringify({ id, channel: p.channel, event: p.event || "message", data: p.data, encoding: p.encoding, ts: 1 });
        for (const s of streams) s.write("id: " + id + "\nevent: " + (p.event || "message") + "\ndata: " + env + "\n\n");
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ id }) + "\n");
      });
      return;
    }
    if (req.headers["x-token"] !== "fresh") {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end('{"code":4401,"message":"token expired"}');
      return;
    }
    globalThis.sseURL = req.url;
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write("retry: 1000\nevent: duet.hello\ndata: {\"type\":\"hello\",\"heartbeatMs\":15000}\n\n");
    res.write("id: 7-1\nevent: message\ndata: {\"id\":\"7-1\",\"channel\":\"a\",\"event\":\"message\",\"data\":{\"first\":true},\"ts\":1}\n\n");
    streams.push(res);
  });
  srv.listen(0, "127.0.0.1", () => { globalThis.sseSrv = srv; resolve(srv.address().port); });
}))()`

func TestConnectSSE(t *testing.T) {
	port, err := await(t, eval(t, sseServer))
	if err != nil {
		t.Fatal(err)
	}
	defer eval(t, `(() => { for (const s of [globalThis.sseSrv]) s.closeAllConnections(), s.close(); })()`)

	// The headers function: a stale token first, a fresh one on refresh.
	calls := 0
	headers := js.FuncOf(func(js.Value, []js.Value) any {
		calls++
		token := "stale"
		if calls > 1 {
			token = "fresh"
		}
		return jsw.Resolved(map[string]any{"x-token": token})
	})
	defer headers.Release()
	opts := jsw.NewObject()
	opts.Set("transport", "sse")
	opts.Set("channels", []any{"a"})
	opts.Set("headers", headers)
	opts.Set("params", map[string]any{"k": "v w"})
	opts.Set("backoff", map[string]any{"initialMs": 10})
	base := "http://127.0.0.1:" + strconv.Itoa(port.Int())
	states := make(chan string, 10)
	msgs := make(chan js.Value, 10)
	onState := js.FuncOf(func(_ js.Value, args []js.Value) any { states <- args[0].String() + " " + args[1].String(); return nil })
	onMsg := js.FuncOf(func(_ js.Value, args []js.Value) any { msgs <- args[0]; return nil })
	defer onState.Release()
	defer onMsg.Release()
	conn := Connect(js.Undefined(), []js.Value{js.ValueOf(base), opts}).(js.Value)
	defer conn.Call("close") // before the handlers are released
	conn.Call("on", "state", onState)
	conn.Call("subscribe", "a", onMsg)

	select {
	case s := <-states:
		if s != "open sse" {
			t.Fatalf("state %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not open")
	}
	if calls != 2 {
		t.Fatalf("headers function called %d times, want 2 (a refresh after 4401)", calls)
	}
	if u := js.Global().Get("sseURL").String(); u != "/rt/sse?channel=a&k=v%20w" {
		t.Fatalf("SSE request %q", u)
	}
	m := <-msgs
	if m.Get("id").String() != "7-1" || !m.Get("data").Get("first").Bool() {
		t.Fatalf("first message %s", js.Global().Get("JSON").Call("stringify", m).String())
	}

	res, err := await(t, conn.Call("publish", "a", map[string]any{"n": 2}, map[string]any{"event": "e"}))
	if err != nil {
		t.Fatal(err)
	}
	if id := res.Get("id").String(); id != "7-2" {
		t.Fatalf("publish id %q", id)
	}
	select {
	case m := <-msgs:
		if m.Get("event").String() != "e" || m.Get("data").Get("n").Int() != 2 {
			t.Fatalf("second message %s", js.Global().Get("JSON").Call("stringify", m).String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no second message")
	}
	if got := conn.Get("lastEventId").String(); got != "7-2" {
		t.Fatalf("lastEventId %q", got)
	}
	conn.Call("close")
	if got := conn.Get("state").String(); got != "closed" {
		t.Fatalf("state after close %q", got)
	}
	select {
	case s := <-states:
		if s != "closed sse" {
			t.Fatalf("state %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no closed state")
	}
}

// tokenServer is a Node server for the token option: its SSE endpoint
// refuses any token but "good" with 4401, streams one message for "good",
// and records the Authorization header of every request.
const tokenServer = `(() => new Promise((resolve) => {
  const http = require("http");
  globalThis.tokenAuths = [];
  const srv = http.createServer((req, res) => {
    globalThis.tokenAuths.push(req.url.split("?")[0] + " " + (req.headers["authorization"] || "-"));
    if (req.headers["authorization"] !== "Bearer good") {
      res.writeHead(401, { "Content-Type": "application/json", "WWW-Authenticate": "Bearer" });
      res.end('{"code":4401,"message":"invalid token: expired: refresh it"}');
      return;
    }
    if (req.url.startsWith("/rt/publish")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"id":"7-9"}\n');
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write("event: duet.hello\ndata: {\"type\":\"hello\",\"heartbeatMs\":15000}\n\n");
    res.write("id: 7-1\nevent: message\ndata: {\"id\":\"7-1\",\"channel\":\"a\",\"event\":\"message\",\"data\":1,\"ts\":1}\n\n");
  });
  srv.listen(0, "127.0.0.1", () => { globalThis.tokenSrv = srv; resolve(srv.address().port); });
}))()`

func TestConnectToken(t *testing.T) {
	port, err := await(t, eval(t, tokenServer))
	if err != nil {
		t.Fatal(err)
	}
	defer eval(t, `(() => { globalThis.tokenSrv.closeAllConnections(); globalThis.tokenSrv.close(); })()`)

	// An async token function: an expired token first, then a good one.
	tokens := []string{"expired", "good"}
	calls := 0
	token := js.FuncOf(func(js.Value, []js.Value) any {
		tok := tokens[min(calls, len(tokens)-1)]
		calls++
		return jsw.Resolved(tok)
	})
	defer token.Release()
	opts := jsw.NewObject()
	opts.Set("transport", "sse")
	opts.Set("channels", []any{"a"})
	opts.Set("token", token)
	opts.Set("backoff", map[string]any{"initialMs": 10})
	msgs := make(chan js.Value, 10)
	onMsg := js.FuncOf(func(_ js.Value, args []js.Value) any { msgs <- args[0]; return nil })
	defer onMsg.Release()
	conn := Connect(js.Undefined(), []js.Value{js.ValueOf("http://127.0.0.1:" + strconv.Itoa(port.Int())), opts}).(js.Value)
	defer conn.Call("close")
	conn.Call("subscribe", "a", onMsg)
	select {
	case m := <-msgs:
		if m.Get("id").String() != "7-1" {
			t.Fatalf("message id %q", m.Get("id").String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message: the connection did not get past the expired token")
	}
	res, err := await(t, conn.Call("publish", "a", 2))
	if err != nil {
		t.Fatal(err)
	}
	if id := res.Get("id").String(); id != "7-9" {
		t.Fatalf("publish id %q", id)
	}
	got := js.Global().Get("tokenAuths").Call("join", ",").String()
	want := "/rt/sse Bearer expired,/rt/sse Bearer good,/rt/publish Bearer good"
	if got != want {
		t.Fatalf("requests %q, want %q", got, want)
	}
	if calls != 2 {
		t.Fatalf("token function called %d times, want 2 (one per connection attempt)", calls)
	}
}

func TestParseConfigToken(t *testing.T) {
	if _, err := parseOptions(eval(t, `({token: 42})`)); err == nil || !strings.Contains(err.Error(), "token must be") {
		t.Fatalf("token: 42 gave %v", err)
	}
	for _, ok := range []string{`({token: "t"})`, `({token: () => "t"})`, `({token: async () => "t"})`} {
		if _, err := parseOptions(eval(t, ok)); err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
	}
}
