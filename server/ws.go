package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
)

// WSHandler serves GET /rt/ws: WebSocket with subprotocol duet.v1.
func (h *Hub) WSHandler() http.Handler { return http.HandlerFunc(h.serveWS) }

// wsConn is the state of one WebSocket connection.
type wsConn struct {
	h   *Hub
	ws  *websocket.Conn
	ob  *outbox
	ctx context.Context // cancelled when the connection must end
	// io is ctx without its cancellation, for reads, writes and pings:
	// coder/websocket drops the TCP connection at once when the context of
	// a read or write ends, which would lose the close frame that tells the
	// client why (4000, 4001, 4002). The connection ends with Close instead.
	io   context.Context
	conn *conn

	// channels is the set the client holds. Only the reader goroutine
	// touches it.
	channels map[string]struct{}

	// closeCode and closeReason are set once, by whoever decides to close
	// the connection first, and read by the writer on its way out.
	closeOnce   sync.Once
	closeCode   shared.Code
	closeReason string

	auth connAuth // who the client is, its publish limits

	pinging atomic.Bool
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
	defer release()
	c, ctx, err := h.register(r.Context(), "ws")
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	defer h.unregister(c)
	id, aerr := h.authenticate(r)

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{shared.Protocol},
		OriginPatterns: h.guard.wsOrigins,
	})
	if err != nil {
		h.metrics.badRequests.Add(1)
		return // Accept has written the HTTP error
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != shared.Protocol {
		h.metrics.badRequests.Add(1)
		_ = ws.Close(websocket.StatusCode(shared.CodeBadRequest), "subprotocol "+shared.Protocol+" required")
		return
	}
	if aerr != nil {
		// After the handshake, not as an HTTP 401: browsers hide the status
		// of a refused upgrade, and the close code tells the client to
		// refresh its credentials (4401) or stop (4403).
		_ = ws.Close(websocket.StatusCode(aerr.Code), truncateReason(aerr.Message))
		return
	}
	defer h.expireAt(c, &id)()
	ws.SetReadLimit(h.cfg.MaxFrameBytes)

	wc := &wsConn{
		h:        h,
		ws:       ws,
		ob:       newOutbox(h.cfg.QueueSize),
		ctx:      ctx,
		io:       context.WithoutCancel(ctx),
		conn:     c,
		channels: make(map[string]struct{}),
		auth:     connAuth{id: id, pub: h.guard.newPublisher(&id, r, true)},
	}
	defer wc.ob.close()
	defer h.broker.Unsubscribe(wc.ob)

	wc.startIdleWatch()
	defer wc.stopIdleWatch()
	wc.ob.push(item{frame: h.helloFrame()})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		wc.readLoop()
	}()
	err = wc.writeLoop()
	wc.finish(err)
	<-readDone
	wc.pings.Wait()
	h.logEnd(r, "ws", err)
}

// closeWith records why the connection ends and cancels it.
func (wc *wsConn) closeWith(code shared.Code, reason string, cause error) {
	wc.closeOnce.Do(func() {
		wc.closeCode, wc.closeReason = code, reason
	})
	wc.conn.cancel(cause)
}

// finish sends the close frame the connection ends with, if any.
func (wc *wsConn) finish(err error) {
	if errors.Is(context.Cause(wc.ctx), errShutdown) {
		wc.closeWith(shared.CodeShutdown, "server shutting down: reconnect", errShutdown)
	}
	if code, reason, ok := authCloseNotice(wc.ctx); ok {
		wc.closeWith(code, reason, errCredentialsExpired)
	}
	// Spend the once: closeCode and closeReason may have been set by the
	// ping goroutine; after this they can no longer change, and Do's
	// guarantee makes them visible here.
	wc.closeOnce.Do(func() {})
	var ce websocket.CloseError
	if wc.closeCode == 0 || errors.As(err, &ce) {
		// Nothing to tell the peer, or the peer closed first.
		_ = wc.ws.CloseNow()
		return
	}
	reason := wc.closeReason
	if len(reason) > 123 {
		reason = reason[:123]
	}
	_ = wc.ws.Close(websocket.StatusCode(wc.closeCode), reason)
}

// writeLoop drains the outbox into WebSocket text frames, several protocol
// frames per WebSocket frame, separated by '\n'.
func (wc *wsConn) writeLoop() error {
	h := wc.h
	heartbeat := time.NewTicker(h.cfg.Heartbeat)
	defer heartbeat.Stop()
	lastWrite := time.Now()
	for {
		var ping bool
		select {
		case <-wc.ctx.Done():
			return context.Cause(wc.ctx)
		case now := <-heartbeat.C:
			ping = now.Sub(lastWrite) >= h.cfg.Heartbeat/2
			wc.protocolPing()
		case <-wc.ob.wake:
		}

		batch, overflow := wc.ob.take()
		if len(batch) == 0 && !ping && !overflow {
			continue
		}
		bp := writeBufs.Get().(*[]byte)
		buf := (*bp)[:0]
		if ping {
			buf = append(buf, `{"type":"ping"}`...)
		}
		var err error
		delivered := 0
		add := func(frame []byte) {
			if err != nil {
				return
			}
			if len(buf) > 0 && len(buf)+1+len(frame) > h.cfg.MaxBatchBytes {
				err = wc.write(buf)
				buf = buf[:0]
			}
			if len(buf) > 0 {
				buf = append(buf, '\n')
			}
			buf = append(buf, frame...)
		}
		// addMsg adds a message; a binary one goes out as its own binary
		// WebSocket message, after the text buffered before it.
		addMsg := func(m *Message) {
			if !m.Binary() {
				add(m.WS())
				return
			}
			if err == nil && len(buf) > 0 {
				err = wc.write(buf)
				buf = buf[:0]
			}
			if err == nil {
				err = wc.writeBinary(m)
			}
		}
		for _, it := range batch {
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
		if err == nil && len(buf) > 0 {
			err = wc.write(buf)
		}
		*bp = buf[:0]
		if cap(buf) <= 256<<10 {
			writeBufs.Put(bp)
		}
		h.metrics.delivered("ws", delivered)
		lastWrite = time.Now()
		if err != nil {
			h.metrics.writeErrors.Add(1)
			return err
		}
		if overflow {
			h.metrics.slowConsumers.Add(1)
			wc.closeWith(shared.CodeSlowConsumer, "client fell behind: reconnect and resume", errSlowConsumer)
			return errSlowConsumer
		}
	}
}

func (wc *wsConn) write(p []byte) error {
	ctx, cancel := context.WithTimeout(wc.io, wc.h.cfg.WriteTimeout)
	defer cancel()
	return wc.ws.Write(ctx, websocket.MessageText, p)
}

// protocolPing sends a WebSocket ping that the browser answers by itself; no
// pong within WriteTimeout means the peer is gone (a half-open connection
// that writes alone would not notice for many minutes). The goroutine lives
// only while a ping is outstanding.
func (wc *wsConn) protocolPing() {
	if !wc.pinging.CompareAndSwap(false, true) {
		return
	}
	wc.pings.Add(1)
	go func() {
		defer wc.pings.Done()
		defer wc.pinging.Store(false)
		ctx, cancel := context.WithTimeout(wc.io, wc.h.cfg.WriteTimeout)
		defer cancel()
		if err := wc.ws.Ping(ctx); err != nil && wc.ctx.Err() == nil {
			wc.h.metrics.heartbeatTimeouts.Add(1)
			wc.closeWith(shared.CodeHeartbeatTimeout, "no pong within the write timeout", err)
		}
	}()
}

// readLoop reads client frames until the connection ends.
func (wc *wsConn) readLoop() {
	for {
		typ, p, err := wc.ws.Read(wc.io)
		if err != nil {
			// A frame over MaxFrameBytes ends up here too: the library has
			// already closed the connection with 1009 (message too big).
			wc.conn.cancel(err)
			return
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
				return
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
		if err := wc.h.admitPublish(&wc.auth.id, &wc.auth.pub, f.Channel); err != nil {
			wc.replyErr(f.Ref, err)
			break
		}
		m, err := wc.h.publishFrame(wc.ctx, &f)
		if err != nil {
			wc.replyErr(f.Ref, err)
			break
		}
		wc.reply(shared.Frame{Type: shared.TypeAck, Ref: f.Ref, ID: m.Envelope.ID})
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
