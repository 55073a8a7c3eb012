package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
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

	// channels is the set the client holds. Only the reader goroutine
	// touches it.
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
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeErrorStatus(w, http.StatusMethodNotAllowed, shared.NewError(shared.CodeBadRequest, "method "+r.Method+" not allowed: use GET"))
		return
	}
	release, ok := h.admit(w, r)
	if !ok {
		return
	}
	// The connection outlives this handler: its context must not end with
	// the request's. The reader notices a client that goes away.
	c, ctx, err := h.register(context.WithoutCancel(r.Context()), "ws")
	if err != nil {
		release()
		writeError(w, protocolError(err))
		return
	}
	c.onEnd(release)
	id, aerr := h.authenticate(r)

	hj := &wsHijacker{ResponseWriter: w, timeout: h.cfg.WriteTimeout}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		Subprotocols:   []string{shared.Protocol},
		OriginPatterns: h.guard.wsOrigins,
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
	c.onEnd(h.expireAt(c, &id))
	ws.SetReadLimit(h.cfg.MaxFrameBytes)

	wc := &wsConn{
		h:        h,
		ws:       ws,
		wire:     hj.wire,
		ob:       newOutbox(h.cfg.QueueSize),
		ctx:      ctx,
		io:       context.WithoutCancel(ctx),
		conn:     c,
		remote:   r.RemoteAddr,
		channels: make(map[string]struct{}),
		auth:     connAuth{id: id, pub: h.guard.newPublisher(&id, r, true)},
		finished: make(chan struct{}),
	}
	wc.startIdleWatch()
	wc.ob.push(item{frame: h.helloFrame()})
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
	if wc.closeCode == 0 || errors.As(cause, &ce) {
		// Nothing to tell the peer, or the peer closed first.
		_ = wc.ws.CloseNow()
		return
	}
	_ = wc.ws.Close(websocket.StatusCode(wc.closeCode), truncateReason(wc.closeReason))
	_ = wc.ws.CloseNow() // Close may give up on a peer that never answers
}

// heartbeat is the connection's turn on the hub's heartbeat wheel: a
// protocol ping always (it checks the peer reads), an application-level
// ping frame only if nothing was written for half a period.
func (wc *wsConn) heartbeat(now time.Time) {
	if wc.ctx.Err() != nil {
		return
	}
	wc.protocolPing()
	wc.ob.heartbeat(now, wc.h.cfg.Heartbeat/2)
}

// writeLoop drains the outbox into WebSocket text frames, several protocol
// frames per WebSocket frame, separated by '\n'. It returns when the
// outbox is empty; the outbox starts it again when work arrives.
func (wc *wsConn) writeLoop() {
	h := wc.h
	for {
		wk := wc.ob.take()
		if wk.empty() {
			return
		}
		if wc.ctx.Err() != nil {
			continue // drain without writing: finish closes the connection
		}
		delivered, err := h.wsBatch(wk, wsFrameReserve, wc.write)
		h.metrics.delivered("ws", delivered)
		wc.ob.wrote()
		if err != nil {
			h.metrics.writeErrors.Add(1)
			wc.conn.cancel(err)
			continue
		}
		if wk.overflow {
			h.metrics.slowConsumers.Add(1)
			wc.closeWith(shared.CodeSlowConsumer, "client fell behind: reconnect and resume", errSlowConsumer)
		}
	}
}

// wsBatch encodes wk's frames into WebSocket text frames, several protocol
// frames per WebSocket frame separated by '\n', and hands each to write: one
// per batch, or more when a batch would pass MaxBatchBytes. The first
// reserve bytes of a text frame's p are free (for the frame header). A
// binary message goes to write on its own (binary true, nothing reserved),
// after the text buffered before it, so id order holds. It returns how many
// messages it wrote.
func (h *Hub) wsBatch(wk work, reserve int, write func(p []byte, binary bool) error) (delivered int, err error) {
	bp := writeBufs.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, reserve)...)
	if wk.ping {
		buf = append(buf, `{"type":"ping"}`...)
	}
	add := func(frame []byte) {
		if err != nil {
			return
		}
		if len(buf) > reserve && len(buf)+1+len(frame) > h.cfg.MaxBatchBytes+reserve {
			err = write(buf, false)
			buf = buf[:reserve]
		}
		if len(buf) > reserve {
			buf = append(buf, '\n')
		}
		buf = append(buf, frame...)
	}
	addMsg := func(m *Message) {
		if !m.Binary() {
			add(m.WS())
			return
		}
		if err == nil && len(buf) > reserve {
			err = write(buf, false)
			buf = buf[:reserve]
		}
		if err == nil {
			err = write(m.WS(), true)
		}
	}
	for _, it := range wk.batch {
		switch {
		case it.msg != nil:
			addMsg(it.msg)
			delivered++
		case it.frame != nil:
			add(it.frame)
		case it.resume != nil:
			r := it.resume
			sub := shared.Frame{Type: shared.TypeSubscribed, Ref: it.ref, Channels: r.Channels}
			if sub.Channels == nil {
				sub.Channels = []string{} // all were held already: say so explicitly
			}
			add(shared.AppendFrame(nil, &sub))
			if r.Gap != nil {
				g := gapFrame(r.Gap, it.ref)
				add(shared.AppendFrame(nil, &g))
			}
			for _, m := range r.Messages {
				addMsg(m)
				delivered++
			}
		}
	}
	if err == nil && len(buf) > reserve {
		err = write(buf, false)
	}
	putWriteBuf(bp, buf)
	return delivered, err
}

// write sends one text frame (p after its wsFrameReserve free bytes), or a
// binary one (all of p), within WriteTimeout.
func (wc *wsConn) write(p []byte, binary bool) error {
	if binary {
		return wc.wire.writeBinary(p)
	}
	return wc.wire.writeText(p)
}

// protocolPing sends a WebSocket ping that the browser answers by itself; no
// pong within WriteTimeout means the peer is gone (a half-open connection
// that writes alone would not notice for many minutes). The goroutine lives
// only while a ping is outstanding.
func (wc *wsConn) protocolPing() {
	wc.pingMu.Lock()
	if wc.pinging || wc.ended {
		wc.pingMu.Unlock()
		return
	}
	wc.pinging = true
	wc.pings.Add(1)
	wc.pingMu.Unlock()
	go func() {
		defer wc.pings.Done()
		defer func() {
			wc.pingMu.Lock()
			wc.pinging = false
			wc.pingMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(wc.io, wc.h.cfg.WriteTimeout)
		defer cancel()
		// A ping that fails because the connection closed meanwhile (the
		// client said goodbye) is no timeout.
		if err := wc.ws.Ping(ctx); err != nil && wc.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			wc.h.metrics.heartbeatTimeouts.Add(1)
			wc.closeWith(shared.CodeHeartbeatTimeout, "no pong within the write timeout", err)
		}
	}()
}

// readLoop reads client frames until the connection ends, and returns why.
func (wc *wsConn) readLoop() error {
	for {
		typ, p, err := wc.ws.Read(wc.io)
		if err != nil {
			// A frame over MaxFrameBytes ends up here too: the library has
			// already closed the connection with 1009 (message too big).
			return err
		}
		if typ == websocket.MessageBinary {
			wc.handleBinary(p) // binary.go
			continue
		}
		// A text frame may carry several protocol frames, one per line.
		for len(p) > 0 {
			line := p
			if i := bytes.IndexByte(p, '\n'); i >= 0 {
				line, p = p[:i], p[i+1:]
			} else {
				p = nil
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if !wc.handle(line) {
				return context.Cause(wc.ctx)
			}
		}
		wc.touchIdle()
	}
}

// handle acts on one client frame; false ends the connection.
func (wc *wsConn) handle(line []byte) bool {
	f, err := shared.DecodeFrame(line)
	if err != nil {
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Code: shared.CodeBadRequest, Message: "cannot decode frame: " + err.Error()})
		return true
	}
	switch f.Type {
	case shared.TypeSubscribe:
		wc.subscribe(&f)
	case shared.TypeUnsubscribe:
		wc.unsubscribe(&f)
	case shared.TypePublish:
		wc.publish(&f)
	case shared.TypePing:
		wc.reply(shared.Frame{Type: shared.TypePong, Ref: f.Ref})
	case shared.TypePong:
		// An answer to our application-level ping: liveness is what counts,
		// and the read itself proved it.
	default:
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Ref: f.Ref, Code: shared.CodeUnknownType, Message: "unknown frame type " + quote(f.Type)})
	}
	return wc.ctx.Err() == nil
}

// publish acts on a publish frame, JSON or binary, and answers it with an
// ack or an error frame.
func (wc *wsConn) publish(f *shared.Frame) {
	if err := wc.h.admitPublish(&wc.auth.id, &wc.auth.pub, f.Channel); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	m, err := wc.h.publishFrame(wc.ctx, f)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	wc.reply(shared.Frame{Type: shared.TypeAck, Ref: f.Ref, ID: m.Envelope.ID})
}

func (wc *wsConn) subscribe(f *shared.Frame) {
	names, err := parseChannels(f.Channels, len(wc.channels), wc.h.cfg.MaxChannels)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	if err := wc.h.authorize(&wc.auth.id, ActionSubscribe, names...); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	from, err := parseResumeID(f.LastEventID)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	fresh := names[:0]
	for _, n := range names {
		if _, ok := wc.channels[n]; !ok {
			fresh = append(fresh, n)
		}
	}
	wc.ob.expectResume(f.Ref)
	if err := wc.h.broker.Subscribe(wc.ctx, wc.ob, fresh, from); err != nil {
		wc.ob.cancelResume()
		wc.replyErr(f.Ref, err)
		return
	}
	for _, n := range fresh {
		wc.channels[n] = struct{}{}
	}
}

func (wc *wsConn) unsubscribe(f *shared.Frame) {
	var gone []string
	for _, n := range f.Channels {
		if _, ok := wc.channels[n]; ok {
			delete(wc.channels, n)
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 {
		wc.h.broker.Unsubscribe(wc.ob, gone...)
	}
	if gone == nil {
		gone = []string{}
	}
	wc.reply(shared.Frame{Type: shared.TypeUnsubscribed, Ref: f.Ref, Channels: gone})
}

// reply queues a control frame. A full queue drops it: the writer sees the
// overflow and disconnects the client.
func (wc *wsConn) reply(f shared.Frame) {
	wc.ob.push(item{frame: shared.AppendFrame(nil, &f)})
}

func (wc *wsConn) replyErr(ref string, err error) {
	e := protocolError(err)
	wc.reply(shared.Frame{Type: shared.TypeError, Ref: ref, Code: e.Code, Message: e.Message})
}
