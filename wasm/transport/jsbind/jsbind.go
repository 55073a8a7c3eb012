//go:build js && wasm

package jsbind

import (
	"context"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport"
)

// Connect is Duet.connect(baseURL, options).
func Connect(_ js.Value, args []js.Value) any {
	c, err := connect(jsw.Arg(args, 0), jsw.Arg(args, 1))
	if err != nil {
		return jsw.Throw(jsw.NewTypeError(err.Error()))
	}
	return c.object
}

// conn is the state behind one connection object.
type conn struct {
	cl     *transport.Client
	object js.Value
	shared bool
	ctx    context.Context
	cancel context.CancelFunc
	creds  *credentials

	mu       sync.Mutex // guards handlers, subs, closed and lock
	handlers map[string][]js.Value
	subs     map[string][]js.Value // channel → handlers; an undefined entry for a bare subscription
	closed   bool

	removes  []func() // browser listeners, removed on close
	lock     func()   // releases the origin's lock; nil while suspended (guarded by mu)
	lockName string   // the origin's lock, "" when not shared
}

type bindError string

func (e bindError) Error() string { return "duet/transport: " + string(e) }

func connect(baseArg, opts js.Value) (*conn, error) {
	base, err := resolveBase(baseArg)
	if err != nil {
		return nil, err
	}
	cfg, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		ctx:      ctx,
		cancel:   cancel,
		handlers: make(map[string][]js.Value),
		subs:     make(map[string][]js.Value),
		creds:    newCredentials(jsw.Prop(opts, "headers"), jsw.Prop(opts, "params"), jsw.Prop(opts, "token")),
	}
	for _, ch := range cfg.Channels {
		c.subs[ch] = append(c.subs[ch], js.Undefined())
	}
	d := &dialer{ctx: ctx, creds: c.creds, credentials: "same-origin"}
	if jsw.Prop(opts, "withCredentials").Truthy() {
		d.credentials = "include"
	}

	ep, err := transport.NewEndpoints(base)
	if err != nil {
		cancel()
		return nil, err
	}
	group, err := sharingGroup(opts, cfg.Mode, d.credentials)
	if err != nil {
		cancel()
		return nil, err
	}
	name := "duet:" + ep.Base + group
	c.shared = sharedWanted(opts)
	var bus *broadcastBus
	if c.shared {
		bc, err := jsw.NewBroadcastChannel(name)
		if err != nil {
			c.shared = false
		} else {
			bus = &broadcastBus{bc: bc}
		}
	}
	copts := transport.ClientOptions{}
	if bus != nil {
		copts.Bus = bus
	}
	cl, err := transport.NewClient(base, cfg, transport.Env{Dialer: d, Observer: (*observer)(c)}, copts)
	if err != nil {
		cancel()
		if bus != nil {
			bus.bc.Close()
		}
		return nil, err
	}
	c.cl = cl
	c.object = c.newObject()

	go func() { // the first request waits for it
		if err := c.creds.load(ctx); err != nil && ctx.Err() == nil {
			consoleWarn("duet: options.headers or options.params failed: " + err.Error())
		}
	}()
	if bus != nil {
		c.removes = append(c.removes, bus.bc.OnMessage(func(data js.Value) {
			if data.Type() == js.TypeString {
				cl.Receive([]byte(data.String()))
			}
		}), func() {
			// Later: a goodbye queued by a close() called from a handler
			// is still to be posted.
			jsw.SetTimeout(bus.bc.Close, 0)
		})
	}
	c.removes = append(c.removes,
		jsw.OnOnlineChange(func(online bool) {
			if online {
				cl.Online()
			} else {
				cl.Offline()
			}
		}),
		jsw.OnVisibilityChange(func(hidden bool) {
			if !hidden {
				cl.Visible()
			}
		}),
	)
	if win := js.Global(); jsw.IsFunction(win.Get("addEventListener")) && jsw.IsObject(win.Get("document")) {
		// A closing tab says goodbye, so the others take over at once; a
		// page going into the back/forward cache steps aside the same way,
		// and comes back where it left off.
		c.removes = append(c.removes,
			jsw.AddEventListener(win, "pagehide", func(ev js.Value) {
				if jsw.Prop(ev, "persisted").Truthy() {
					c.suspend()
				} else {
					c.close()
				}
			}, nil),
			jsw.AddEventListener(win, "pageshow", func(ev js.Value) {
				if jsw.Prop(ev, "persisted").Truthy() {
					c.resume()
				}
			}, nil))
	}
	cl.Start()
	if bus != nil {
		c.lockName = name
		c.lock = c.requestLock(name)
	}
	return c, nil
}

// suspend takes the connection off the network and the bus while the page
// is in the back/forward cache: the lock goes to another tab, and a page
// holding none is not kept out of the cache.
func (c *conn) suspend() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	release := c.lock
	c.lock = nil
	c.mu.Unlock()
	c.cl.Suspend()
	if release != nil {
		release()
	}
}

// resume brings a page back from the back/forward cache: it resumes after
// the last id it saw, leading or following.
func (c *conn) resume() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.cl.Resume()
	if c.lockName != "" {
		lock := c.requestLock(c.lockName)
		c.mu.Lock()
		c.lock = lock
		c.mu.Unlock()
	}
}

// requestLock asks for the origin's lock in the background and leads once
// it is granted. The returned func withdraws the request or releases the
// lock.
func (c *conn) requestLock(name string) func() {
	ctx, cancel := context.WithCancel(c.ctx)
	go func() {
		l, err := jsw.RequestLock(ctx, name, nil)
		if err != nil {
			if ctx.Err() == nil {
				// No lock to be had (an insecure context): lead alone
				// rather than not connect at all.
				consoleWarn("duet: cannot take the connection lock, connecting on this tab alone: " + err.Error())
				c.cl.Lead()
			}
			return
		}
		jsw.Mark("duet:lock")
		c.cl.Lead()
		<-l.Lost() // held until cancel
	}()
	return cancel
}

// maxSharingGroup bounds options.shared as a group name.
const maxSharingGroup = 128

// sharingGroup returns what is added to the name of the origin's lock and
// bus so that only tabs that can ride the same connection share it: those
// asking for the same wire, the same fetch credentials mode, and the same
// options.shared group name when it is a string. One connection carries
// one identity (the leader's token, headers and params: the server
// authorizes a connection, not a channel), so tabs with different
// identities must name different groups. "" for the defaults, so that
// such tabs share with each other as before.
func sharingGroup(opts js.Value, mode transport.Mode, credentials string) (string, error) {
	var g string
	switch mode {
	case transport.ModeWebSocket:
		g += "|transport=websocket"
	case transport.ModeSSE:
		g += "|transport=sse"
	}
	if credentials != "same-origin" {
		g += "|credentials=" + credentials
	}
	if v := jsw.Prop(opts, "shared"); v.Type() == js.TypeString && v.String() != "" {
		if len(v.String()) > maxSharingGroup {
			return "", bindError("shared: a group name is at most " + strconv.Itoa(maxSharingGroup) + " bytes")
		}
		g += "|group=" + v.String()
	}
	return g, nil
}

func sharedWanted(opts js.Value) bool {
	if v := jsw.Prop(opts, "shared"); !jsw.Nullish(v) && !v.Truthy() {
		return false
	}
	return jsw.IsFunction(js.Global().Get("BroadcastChannel")) && jsw.LocksSupported()
}

// resolveBase resolves the base URL against the page: new URL(base,
// location.href).
func resolveBase(v js.Value) (string, error) {
	s := "/"
	if v.Type() == js.TypeString && v.String() != "" {
		s = v.String()
	} else if !jsw.Nullish(v) && v.Type() != js.TypeString {
		return "", bindError("baseURL must be a string")
	}
	loc := jsw.Prop(js.Global(), "location")
	urlCtor := js.Global().Get("URL")
	var u js.Value
	var err error
	if jsw.IsObject(loc) {
		u, err = jsw.New(urlCtor, s, loc.Get("href"))
	} else {
		u, err = jsw.New(urlCtor, s)
	}
	if err != nil {
		return "", bindError("baseURL " + strconv.Quote(s) + " is not a URL")
	}
	return u.Get("href").String(), nil
}

// parseOptions reads the options object.
func parseOptions(o js.Value) (*transport.Options, error) {
	cfg := &transport.Options{}
	if !jsw.Nullish(o) && !jsw.IsObject(o) {
		return nil, bindError("options must be an object")
	}
	var err error
	if v := jsw.Prop(o, "transport"); !jsw.Nullish(v) {
		if v.Type() != js.TypeString {
			return nil, bindError(`transport must be "auto", "websocket" or "sse"`)
		}
		if cfg.Mode, err = transport.ParseMode(v.String()); err != nil {
			return nil, err
		}
	}
	if v := jsw.Prop(o, "token"); !jsw.Nullish(v) && v.Type() != js.TypeString && !jsw.IsFunction(v) {
		return nil, bindError("token must be a string or a function returning one (or a promise of one)")
	}
	if cfg.Channels, err = stringList(jsw.Prop(o, "channels"), "channels"); err != nil {
		return nil, err
	}
	for _, ch := range cfg.Channels {
		if err := shared.ValidateChannel(ch); err != nil {
			return nil, err
		}
	}
	if v := jsw.Prop(o, "info"); !jsw.Nullish(v) {
		var s js.Value
		if err := jsw.Try("JSON.stringify", func() { s = jsonObj.Call("stringify", v) }); err != nil || s.Type() != js.TypeString {
			return nil, bindError("info must be a JSON value")
		}
		cfg.Info = s.String()
	}
	if v := jsw.Prop(o, "lastEventId"); !jsw.Nullish(v) {
		if v.Type() != js.TypeString {
			return nil, bindError("lastEventId must be a string")
		}
		cfg.LastEventID = v.String()
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{
		{"heartbeatTimeout", &cfg.HeartbeatTimeout},
		{"connectTimeout", &cfg.ConnectTimeout},
		{"publishTimeout", &cfg.PublishTimeout},
		{"wsRetryAfter", &cfg.WSRetryAfter},
	} {
		if *f.dst, err = millis(jsw.Prop(o, f.name), f.name); err != nil {
			return nil, err
		}
	}
	if b := jsw.Prop(o, "backoff"); !jsw.Nullish(b) {
		if !jsw.IsObject(b) {
			return nil, bindError("backoff must be an object")
		}
		for _, f := range []struct {
			name string
			dst  *time.Duration
		}{
			{"initialMs", &cfg.Backoff.Initial},
			{"maxMs", &cfg.Backoff.Max},
			{"resetAfterMs", &cfg.Backoff.ResetAfter},
		} {
			if *f.dst, err = millis(b.Get(f.name), "backoff."+f.name); err != nil {
				return nil, err
			}
		}
		if m := b.Get("multiplier"); !jsw.Nullish(m) {
			if m.Type() != js.TypeNumber || m.Float() < 1 {
				return nil, bindError("backoff.multiplier must be a number >= 1")
			}
			cfg.Backoff.Multiplier = m.Float()
		}
	}
	return cfg, nil
}

func millis(v js.Value, name string) (time.Duration, error) {
	if jsw.Nullish(v) {
		return 0, nil
	}
	if v.Type() != js.TypeNumber || v.Float() < 0 || v.Float() > 1e12 {
		return 0, bindError(name + " must be a number of milliseconds")
	}
	return time.Duration(v.Float() * float64(time.Millisecond)), nil
}

func stringList(v js.Value, name string) ([]string, error) {
	if jsw.Nullish(v) {
		return nil, nil
	}
	if v.Type() == js.TypeString {
		return []string{v.String()}, nil
	}
	if !js.Global().Get("Array").Call("isArray", v).Bool() {
		return nil, bindError(name + " must be an array of strings")
	}
	out := make([]string, v.Length())
	for i := range out {
		e := v.Index(i)
		if e.Type() != js.TypeString {
			return nil, bindError(name + " must be an array of strings")
		}
		out[i] = e.String()
	}
	return out, nil
}

// close ends the connection object: the client, the lock, the listeners.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	removes := c.removes
	c.removes = nil
	c.mu.Unlock()
	c.mu.Lock()
	release := c.lock
	c.lock = nil
	c.mu.Unlock()
	c.cl.Close() // says goodbye on the bus before it closes
	if release != nil {
		release()
	}
	c.cancel()
	for _, r := range removes {
		r()
	}
}

// broadcastBus is a transport.Bus over a BroadcastChannel.
type broadcastBus struct{ bc *jsw.BroadcastChannel }

func (b *broadcastBus) Post(p []byte) { _ = b.bc.Post(string(p)) }

func consoleWarn(msg string) {
	if con := js.Global().Get("console"); jsw.IsObject(con) {
		con.Call("warn", msg)
	}
}
