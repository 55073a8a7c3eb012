//go:build js && wasm

package jsbind

import (
	"slices"
	"syscall/js"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport"
)

// eventTypes are the types on() accepts.
var eventTypes = []string{"state", "message", "gap", "error", "join", "leave"}

// newObject builds the JavaScript connection object. Its functions live as
// long as the program: a closed connection's methods still answer (publish
// rejects, subscribe does nothing).
func (c *conn) newObject() js.Value {
	o := jsw.NewObject()
	method := func(name string, fn func(args []js.Value) any) {
		o.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) (result any) {
			defer func() {
				if r := recover(); r != nil {
					result = jsw.Throw(jsw.NewError(jsw.PanicError(r)))
				}
			}()
			return fn(args)
		}))
	}
	getter := func(name string, fn func() any) {
		desc := jsw.NewObject()
		desc.Set("get", js.FuncOf(func(js.Value, []js.Value) any { return fn() }))
		desc.Set("enumerable", true)
		js.Global().Get("Object").Call("defineProperty", o, name, desc)
	}
	method("subscribe", c.jsSubscribe)
	method("unsubscribe", c.jsUnsubscribe)
	method("publish", c.jsPublish)
	method("publishBinary", c.jsPublishBinary)
	method("presence", func(args []js.Value) any { return c.jsPresence("presence", args, false) })
	method("presenceStats", func(args []js.Value) any { return c.jsPresence("presenceStats", args, true) })
	method("history", c.jsHistory)
	method("on", c.jsOn)
	method("off", c.jsOff)
	method("close", func([]js.Value) any { c.close(); return nil })
	getter("state", func() any { return c.cl.State().String() })
	getter("transport", func() any { return c.cl.Wire().String() })
	getter("lastEventId", func() any { return c.cl.LastEventID() })
	getter("channels", func() any { return stringsToJS(c.cl.Channels()) })
	getter("leader", func() any { return c.cl.Leading() })
	getter("shared", func() any { return c.shared })
	getter("clientId", func() any { return c.cl.ClientID() })
	return o
}

func throwType(msg string) js.Value { return jsw.Throw(jsw.NewTypeError("duet: " + msg)) }

// subscribe(channel, handler?) → unsubscribe()
func (c *conn) jsSubscribe(args []js.Value) any {
	ch, h := jsw.Arg(args, 0), jsw.Arg(args, 1)
	if ch.Type() != js.TypeString {
		return throwType("subscribe(channel, handler): channel must be a string")
	}
	if !jsw.Nullish(h) && !jsw.IsFunction(h) {
		return throwType("subscribe(channel, handler): handler must be a function")
	}
	name := ch.String()
	if err := shared.ValidateChannel(name); err != nil {
		return jsw.Throw(jsw.NewTypeError(err.Error()))
	}
	// A distinct entry per call, so that this call's unsubscribe removes
	// this one only, even if the same handler is subscribed twice.
	entry := jsw.NewObject()
	entry.Set("h", h)
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.subs[name] = append(c.subs[name], entry)
	}
	c.mu.Unlock()
	if closed {
		return js.FuncOf(func(js.Value, []js.Value) any { return nil })
	}
	_ = c.cl.Subscribe(name) // validated
	var unsub js.Func
	unsub = js.FuncOf(func(js.Value, []js.Value) any {
		c.removeSub(name, func(e js.Value) bool { return e.Equal(entry) })
		unsub.Release()
		return nil
	})
	return unsub
}

// unsubscribe(channel, handler?)
func (c *conn) jsUnsubscribe(args []js.Value) any {
	ch, h := jsw.Arg(args, 0), jsw.Arg(args, 1)
	if ch.Type() != js.TypeString {
		return throwType("unsubscribe(channel, handler): channel must be a string")
	}
	if jsw.Nullish(h) {
		c.removeSub(ch.String(), func(js.Value) bool { return true })
		return nil
	}
	c.removeSub(ch.String(), func(e js.Value) bool { return subHandler(e).Equal(h) })
	return nil
}

// subHandler returns the handler of a subscription entry: undefined for
// the bare subscriptions of options.channels.
func subHandler(e js.Value) js.Value {
	if jsw.IsObject(e) {
		return e.Get("h")
	}
	return js.Undefined()
}

func (c *conn) removeSub(name string, match func(js.Value) bool) {
	c.mu.Lock()
	list := slices.DeleteFunc(c.subs[name], match)
	gone := len(list) == 0
	if gone {
		delete(c.subs, name)
	} else {
		c.subs[name] = list
	}
	c.mu.Unlock()
	if gone {
		c.cl.Unsubscribe(name)
	}
}

// publish(channel, data, {event}?) → Promise<{id}>
func (c *conn) jsPublish(args []js.Value) any {
	return c.publishCall("publish", "data", args, func(data js.Value) ([]byte, js.Value) {
		raw := []byte("null")
		if !data.IsUndefined() {
			var s js.Value
			if err := jsw.Try("JSON.stringify", func() { s = jsonObj.Call("stringify", data) }); err != nil {
				return nil, jsw.NewTypeError("duet: publish: data cannot be encoded as JSON: " + err.Error())
			}
			if s.Type() == js.TypeString {
				raw = []byte(s.String())
			}
		}
		return raw, js.Undefined()
	}, c.cl.Publish)
}

// publishBinary(channel, bytes, {event}?) → Promise<{id}>. bytes is a
// Uint8Array, another ArrayBuffer view or an ArrayBuffer; it is copied once
// into Go, so the caller may reuse it at once.
func (c *conn) jsPublishBinary(args []js.Value) any {
	return c.publishCall("publishBinary", "bytes", args, func(data js.Value) ([]byte, js.Value) {
		b := jsw.Bytes(data)
		if b == nil {
			return nil, jsw.NewTypeError("duet: publishBinary(channel, bytes): bytes must be a Uint8Array, an ArrayBuffer view or an ArrayBuffer")
		}
		return b, js.Undefined()
	}, c.cl.PublishBinary)
}

// publishCall is publish and publishBinary: it checks the channel and the
// event option of args, turns args[1] (named param in errors) into bytes
// with encode, which returns the error to reject with or undefined, and
// publishes them with send.
func (c *conn) publishCall(name, param string, args []js.Value, encode func(js.Value) ([]byte, js.Value),
	send func(channel, event string, data []byte, done func(id string, err error))) any {
	ch, data, opts := jsw.Arg(args, 0), jsw.Arg(args, 1), jsw.Arg(args, 2)
	if ch.Type() != js.TypeString {
		return jsw.RejectedWith(jsw.NewTypeError("duet: " + name + "(channel, " + param + "): channel must be a string"))
	}
	event := ""
	if ev := jsw.Prop(opts, "event"); !jsw.Nullish(ev) {
		if ev.Type() != js.TypeString {
			return jsw.RejectedWith(jsw.NewTypeError("duet: " + name + ": event must be a string"))
		}
		event = ev.String()
	}
	b, rejection := encode(data)
	if !rejection.IsUndefined() {
		return jsw.RejectedWith(rejection)
	}
	d := jsw.NewDeferred()
	send(ch.String(), event, b, func(id string, err error) {
		if err != nil {
			d.RejectWith(errorValue(err, false))
			return
		}
		res := jsw.NewObject()
		res.Set("id", id)
		d.Resolve(res)
	})
	return d.Promise
}

// on(type, handler) → off()
func (c *conn) jsOn(args []js.Value) any {
	typ, h := jsw.Arg(args, 0), jsw.Arg(args, 1)
	if typ.Type() != js.TypeString || !slices.Contains(eventTypes, typ.String()) {
		return throwType(`on(type, handler): type must be "state", "message", "gap", "error", "join" or "leave"`)
	}
	if !jsw.IsFunction(h) {
		return throwType("on(type, handler): handler must be a function")
	}
	t := typ.String()
	entry := jsw.NewObject()
	entry.Set("h", h)
	c.mu.Lock()
	c.handlers[t] = append(c.handlers[t], entry)
	c.mu.Unlock()
	var off js.Func
	off = js.FuncOf(func(js.Value, []js.Value) any {
		c.mu.Lock()
		c.handlers[t] = slices.DeleteFunc(c.handlers[t], func(e js.Value) bool { return e.Equal(entry) })
		c.mu.Unlock()
		off.Release()
		return nil
	})
	return off
}

// off(type, handler)
func (c *conn) jsOff(args []js.Value) any {
	typ, h := jsw.Arg(args, 0), jsw.Arg(args, 1)
	if typ.Type() != js.TypeString {
		return throwType("off(type, handler): type must be a string")
	}
	c.mu.Lock()
	c.handlers[typ.String()] = slices.DeleteFunc(c.handlers[typ.String()], func(e js.Value) bool { return e.Get("h").Equal(h) })
	c.mu.Unlock()
	return nil
}

// observer turns the client's events into handler calls.
type observer conn

func (o *observer) handlersOf(typ string) []js.Value {
	c := (*conn)(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.handlers[typ])
}

func (o *observer) StateChanged(s transport.State, k transport.Kind) {
	for _, e := range o.handlersOf("state") {
		call(e.Get("h"), s.String(), k.String())
	}
}

func (o *observer) Message(e *shared.Envelope) {
	c := (*conn)(o)
	c.mu.Lock()
	subs := slices.Clone(c.subs[e.Channel])
	all := slices.Clone(c.handlers["message"])
	c.mu.Unlock()
	if len(subs) == 0 && len(all) == 0 {
		return
	}
	msg, err := messageValue(e)
	if err != nil {
		consoleWarn("duet: cannot decode a message: " + err.Error())
		return
	}
	for _, h := range all {
		call(h.Get("h"), msg)
	}
	for _, s := range subs {
		if h := subHandler(s); jsw.IsFunction(h) {
			call(h, msg)
		}
	}
}

// messageValue is the message object of e: one JSON.parse gives it, data
// included; a binary message's data is a Uint8Array instead.
func messageValue(e *shared.Envelope) (js.Value, error) {
	if e.Binary {
		return binaryMessage(e), nil
	}
	var msg js.Value
	err := jsw.Try("JSON.parse", func() { msg = jsonObj.Call("parse", string(shared.AppendEnvelope(nil, e))) })
	return msg, err
}

// binaryMessage is the message object of a binary message: data is a
// Uint8Array (one copy out of Go memory) and binary is true.
func binaryMessage(e *shared.Envelope) js.Value {
	msg := jsw.NewObject()
	msg.Set("id", e.ID)
	msg.Set("channel", e.Channel)
	msg.Set("event", e.Event)
	msg.Set("data", jsw.Uint8Array(e.Data))
	msg.Set("ts", float64(e.TS))
	msg.Set("binary", true)
	return msg
}

func (o *observer) Gap(g *transport.Gap) {
	hs := o.handlersOf("gap")
	if len(hs) == 0 {
		return
	}
	v := jsw.NewObject()
	v.Set("channels", stringsToJS(g.Channels))
	v.Set("lastEventId", g.LastEventID)
	v.Set("id", g.ID)
	v.Set("reason", g.Reason)
	for _, h := range hs {
		call(h.Get("h"), v)
	}
}

func (o *observer) Error(e *shared.Error, fatal bool) {
	hs := o.handlersOf("error")
	if len(hs) == 0 {
		if fatal {
			consoleWarn("duet: connection stopped: " + e.Error())
		}
		return
	}
	v := errorValue(e, fatal)
	for _, h := range hs {
		call(h.Get("h"), v)
	}
}

// call calls a handler; one that throws is reported and does no harm.
func call(h js.Value, args ...any) {
	if !jsw.IsFunction(h) {
		return
	}
	if err := jsw.Try("handler", func() { h.Invoke(args...) }); err != nil {
		if con := js.Global().Get("console"); jsw.IsObject(con) {
			con.Call("error", "duet: a handler threw:", err.(*jsw.Error).Value)
		}
	}
}

// errorValue returns the JavaScript Error for err: message, code (a Duet
// close code) and fatal.
func errorValue(err error, fatal bool) js.Value {
	msg, code := err.Error(), shared.CodeInternal
	if e, ok := err.(*shared.Error); ok {
		msg, code = e.Message, e.Code
	}
	v := js.Global().Get("Error").New(msg)
	v.Set("name", "DuetError")
	v.Set("code", int(code))
	v.Set("fatal", fatal)
	return v
}

func stringsToJS(s []string) js.Value {
	a := js.Global().Get("Array").New(len(s))
	for i, x := range s {
		a.SetIndex(i, x)
	}
	return a
}

var jsonObj = js.Global().Get("JSON")

// presence(channel) → Promise<{channel, clients, count, users}>, and
// presenceStats(channel) → Promise<{channel, count, users}>.
func (c *conn) jsPresence(name string, args []js.Value, stats bool) any {
	ch := jsw.Arg(args, 0)
	if ch.Type() != js.TypeString {
		return jsw.RejectedWith(jsw.NewTypeError("duet: " + name + "(channel): channel must be a string"))
	}
	d := jsw.NewDeferred()
	c.cl.Presence(ch.String(), stats, func(body []byte, err error) {
		if err != nil {
			d.RejectWith(errorValue(err, false))
			return
		}
		var v js.Value
		if err := jsw.Try("JSON.parse", func() { v = jsonObj.Call("parse", string(body)) }); err != nil {
			d.RejectWith(errorValue(err, false))
			return
		}
		d.Resolve(v)
	})
	return d.Promise
}

// JoinLeave implements transport.PresenceObserver: on("join") and
// on("leave") handlers get {channel, client, user}.
func (o *observer) JoinLeave(f *shared.Frame) {
	hs := o.handlersOf(f.Type)
	if len(hs) == 0 {
		return
	}
	v := jsw.NewObject()
	v.Set("channel", f.Channel)
	v.Set("client", f.Client)
	v.Set("user", f.User)
	for _, h := range hs {
		call(h.Get("h"), v)
	}
}
