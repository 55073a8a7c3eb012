package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
)

// WSHandler serves GET /rt/ws: WebSocket with subprotocol duet.v1.
func (h *Hub) WSHandler() http.Handler { return http.HandlerFunc(h.serveWS) }

// wsConn is the state of one WebSocket connection.
//
// An idle connection holds one goroutine, its reader (the handler's
// goroutine returns once the connection is set up, which frees net/http's
// per-request state). Its writer runs only while there is something to
// write, its pinger only while a ping is outstanding, and heartbeats come
// from the hub's heartbeat wheel.
type wsConn struct {
	h    *Hub
	ws   *websocket.Conn
	wire *wsWire // the hijacked connection: data frames are written here
	ob   *outbox
	ctx  context.Context // cancelled when the connection must end
	// io is ctx without its cancellation, for reads, writes and pings:
	// coder/websocket drops the TCP connection at once when the context of
	// a read or write ends, which would lose the close frame that tells the
	// client why (4000, 4001, 4002). The connection ends with Close instead.
	io     context.Context
	conn   *conn
	remote string

	// channels is the set the client holds: changed by the reader and by
	// server-side control (revoke).
	chMu     sync.Mutex // guards channels
	channels map[string]struct{}

	// closeCode and closeReason are set once, by whoever decides to close
	// the connection first, and read by finish.
	closeOnce   sync.Once
	closeCode   shared.Code
	closeReason string
	finished    chan struct{} // closed once finish has run

	auth connAuth // who the client is, its publish limits

	writers sync.WaitGroup // the on-demand writer, waited for on the way out
	beat    *beat          // the connection's place on the heartbeat wheel

	pingMu  sync.Mutex // guards pinging and ended, and pings.Add
	pinging bool
	ended   bool
	pings   sync.WaitGroup // the outstanding ping, waited for on the way out

	idle idleWatch
}

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	// Refuse wrong methods like the other endpoints (405 with Allow):
	// websocket.Accept would answer 426, or 405 without Allow.
	if refuseMethod(w, r, http.MethodGet) {
		return
	}
	if err := h.origins.checkWebSocket(r); err != nil {
		h.metrics.forbidden.Add(1)
		writeError(w, protocolError(err))
		return
	}
	release, ok := h.admit(w, r)
	if !ok {
		return
	}
	// The connection outlives this handler: its context must not end with
	// the request's. The reader notices a client that goes away.
	id, aerr := h.authenticate(r)
	c, ctx, err := h.register(context.WithoutCancel(r.Context()), "ws", &id)
	if err != nil {
		release()
		writeError(w, protocolError(err))
		return
	}
	c.onEnd(release)

	hj := &wsHijacker{ResponseWriter: w, timeout: h.cfg.WriteTimeout}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		Subprotocols: []string{shared.Protocol},
		// checkWebSocket has compared the Origin, scheme included, which
		// the library's check does not do for same-origin requests.
		InsecureSkipVerify: true,
		// permessage-deflate stays off (the library's default): it would
		// cost a flate writer per connection (hundreds of KiB with context
		// takeover) and compress each batch once per subscriber, where the
		// encode-once fan-out otherwise copies bytes.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		h.metrics.badRequests.Add(1)
		h.unregister(c)
		return // Accept has written the HTTP error
	}
	if ws.Subprotocol() != shared.Protocol {
		h.metrics.badRequests.Add(1)
		_ = ws.Close(websocket.StatusCode(shared.CodeBadRequest), "subprotocol "+shared.Protocol+" required")
		h.unregister(c)
		return
	}
	if aerr != nil {
		// After the handshake, not as an HTTP 401: browsers hide the status
		// of a refused upgrade, and the close code tells the client to
		// refresh its credentials (4401) or stop (4403).
		_ = ws.Close(websocket.StatusCode(aerr.Code), truncateReason(aerr.Message))
		h.unregister(c)
		return
	}
	if c.presence.info, err = h.presence.info(&id, r.URL.Query().Get("info")); err != nil {
		e := protocolError(err)
		_ = ws.Close(websocket.StatusCode(e.Code), truncateReason(e.Message))
		h.unregister(c)
		return
	}
	c.onEnd(h.expireAt(c, &id))
	ws.SetReadLimit(h.cfg.MaxFrameBytes)

	wc := &wsConn{
		h:        h,
		ws:       ws,
		wire:     hj.wire,
		ob:       h.newConnOutbox(),
		ctx:      ctx,
		io:       context.WithoutCancel(ctx),
		conn:     c,
		remote:   r.RemoteAddr,
		channels: make(map[string]struct{}),
		auth:     connAuth{id: id, pub: h.rates.newPublisher(&id, r, true), sub: h.subRates.newPublisher(&id, r, true)},
		finished: make(chan struct{}),
	}
	h.controlWS(wc)
	wc.startIdleWatch()
	wc.ob.push(item{frame: h.helloFrame(c)})
	wc.ob.onDemand(&wc.writers, wc.writeLoop)
	context.AfterFunc(ctx, wc.finish)
	wc.beat = h.beats.add(h.cfg.Heartbeat, wc.heartbeat)
	go wc.run()
}

// run is the connection's resident goroutine: it reads client frames, then
// tears the connection down.
func (wc *wsConn) run() {
	h := wc.h
	err := wc.readLoop()
	wc.conn.cancel(err) // finish runs, if nothing else ended the connection first
	<-wc.finished
	wc.stopIdleWatch()
	h.beats.remove(wc.beat)
	wc.ob.close()
	h.broker.Unsubscribe(wc.ob)
	h.presence.leaveAll(wc.conn, wc.ob)
	wc.writers.Wait()
	wc.pingMu.Lock()
	wc.ended = true
	wc.pingMu.Unlock()
	wc.pings.Wait()
	h.unregister(wc.conn)
	h.logEnd(wc.remote, "ws", context.Cause(wc.ctx))
}

// closeWith records why the connection ends and cancels it.
func (wc *wsConn) closeWith(code shared.Code, reason string, cause error) {
	wc.closeOnce.Do(func() {
		wc.closeCode, wc.closeReason = code, reason
	})
	wc.conn.cancel(cause)
}

// finish sends the close frame the connection ends with, if any, and closes
// it. It runs once the connection's context is cancelled.
func (wc *wsConn) finish() {
	defer close(wc.finished)
	cause := context.Cause(wc.ctx)
	if code, reason, ok := closeNotice(wc.ctx); ok {
		wc.closeWith(code, reason, cause)
	}
	// Spend the once: closeCode and closeReason may have been set by the
	// ping goroutine or the writer; after this they can no longer change,
	// and Do's guarantee makes them visible here.
	wc.closeOnce.Do(func() {})
	var ce websocket.CloseError
	if errors.Is(cause, os.ErrDeadlineExceeded) || errors.Is(cause, errSlowConsumer) || wc.closeCode == shared.CodeHeartbeatTimeout {
		// The client does not keep up: once the close handshake has had
		// its chance, whatever it has not received is dropped with a reset.
		wc.wire.closer.giveUp()
	}
	if wc.closeCode == 0 || errors.As(cause, &ce) {
		// Nothing to tell the peer, or the peer closed first.
		_ = wc.ws.CloseNow()
		return
	}
	_ = wc.ws.Close(websocket.StatusCode(wc.closeCode), truncateReason(wc.closeReason))
	_ = wc.ws.CloseNow() // Close may give up on a peer that never answers
}

// idleWatch closes a WebSocket that holds no channel and has sent nothing
// for Config.IdleTimeout, so a client cannot park connections that cost
// memory and count against the limits while doing nothing. Any frame from
// the client or any subscription keeps the connection.
type idleWatch struct {
	timer *time.Timer // nil when the limit is off
}

func (wc *wsConn) startIdleWatch() {
	d := wc.h.cfg.IdleTimeout
	if d <= 0 {
		return
	}
	wc.idle.timer = time.AfterFunc(d, func() {
		wc.closeWith(shared.CodeIdle, "idle: no channel subscribed and nothing sent for "+d.String(), errIdle)
	})
}

// touchIdle is called by the reader after each client frame: the idle clock
// restarts while the connection holds no channel, and stops once it holds
// one.
func (wc *wsConn) touchIdle() {
	t := wc.idle.timer
	if t == nil {
		return
	}
	t.Stop()
	wc.chMu.Lock()
	none := len(wc.channels) == 0
	wc.chMu.Unlock()
	if none {
		t.Reset(wc.h.cfg.IdleTimeout)
	}
}

func (wc *wsConn) stopIdleWatch() {
	if t := wc.idle.timer; t != nil {
		t.Stop()
	}
}

var errIdle = shared.NewError(shared.CodeIdle, "idle connection closed")
