package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
	sse "github.com/tmaxmax/go-sse"
)

// SSE control events. Native EventSource clients never see them unless they
// listen for these names; Duet's clients do.
const (
	sseHelloEvent = "duet.hello"
	sseGapEvent   = "duet.gap"
	sseCloseEvent = "duet.close"
)

var ssePing = []byte(":ping\n\n")

// writeBufs pools the batch buffers of SSE and WebSocket writers, so an idle
// connection holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// putWriteBuf returns buf, taken from writeBufs as bp, unless it grew huge.
func putWriteBuf(bp *[]byte, buf []byte) {
	*bp = buf[:0]
	if cap(buf) <= 256<<10 {
		writeBufs.Put(bp)
	}
}

// SSEHandler serves GET /rt/sse?channel=C[&channel=C2…][&lastEventId=ID].
func (h *Hub) SSEHandler() http.Handler { return http.HandlerFunc(h.serveSSE) }

func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request) {
	if h.cors(w, r, "GET") {
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeErrorStatus(w, http.StatusMethodNotAllowed, shared.NewError(shared.CodeBadRequest, "method "+r.Method+" not allowed: use GET"))
		return
	}
	id, aerr := h.authenticate(r)
	if aerr != nil {
		writeAuthError(w, aerr)
		return
	}
	q := r.URL.Query()
	channels, err := parseChannels(q["channel"], 0, h.cfg.MaxChannels)
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	if err := h.authorize(&id, ActionSubscribe, channels...); err != nil {
		writeRefusal(w, err)
		return
	}
	last := r.Header.Get("Last-Event-ID") // set by EventSource on reconnect: it wins
	if last == "" {
		last = q.Get("lastEventId")
	}
	from, err := parseResumeID(last)
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}

	release, ok := h.admit(w, r)
	if !ok {
		return
	}
	// An HTTP/1.1 stream is taken over from net/http (see sseConn); other
	// streams (HTTP/2, writers that cannot hijack) stay in this handler.
	hijack := r.ProtoMajor == 1 && r.ProtoMinor >= 1 && canHijack(w)
	parent := r.Context()
	if hijack {
		parent = context.WithoutCancel(parent) // the stream outlives the handler
	}
	c, ctx, err := h.register(parent, "sse")
	if err != nil {
		release()
		writeError(w, protocolError(err))
		return
	}
	c.onEnd(release)
	c.onEnd(h.expireAt(c, &id))
	subCtx := ctx
	if hijack {
		// Until the stream is taken over, a client that leaves ends the
		// request's context: let that abort a long replay, as it would on
		// the in-handler path.
		var stop context.CancelFunc
		subCtx, stop = context.WithCancel(ctx)
		defer stop()
		defer context.AfterFunc(r.Context(), stop)()
	}
	ob := newOutbox(h.cfg.QueueSize)
	if err := h.broker.Subscribe(subCtx, ob, channels, from); err != nil {
		ob.close()
		h.unregister(c)
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	if hijack {
		h.hijackSSE(w, r, c, ctx, ob)
		return
	}
	defer h.unregister(c)
	defer ob.close()
	defer h.broker.Unsubscribe(ob)

	sess, err := sse.Upgrade(w, r)
	if err != nil {
		writeError(w, shared.NewError(shared.CodeInternal, "this response writer cannot stream"))
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if err := sess.Send(h.sseHello()); err != nil {
		return
	}
	if err := sess.Flush(); err != nil {
		return
	}
	hb := h.beats.add(h.cfg.Heartbeat, func(now time.Time) { ob.heartbeat(now, h.cfg.Heartbeat/2) })
	defer h.beats.remove(hb)
	err = h.streamSSE(ctx, w, rc, ob)
	h.logEnd(r.RemoteAddr, "sse", err)
}

func (h *Hub) sseHello() *sse.Message {
	hello := &sse.Message{Type: sse.Type(sseHelloEvent), Retry: h.sseRetry()}
	hello.AppendData(string(h.helloFrame()))
	return hello
}

// sseRetry returns a jittered reconnection delay for one connection.
func (h *Hub) sseRetry() time.Duration {
	base := h.cfg.SSERetry
	return base/2 + time.Duration(rand.Int64N(int64(base)))
}

// streamSSE writes the stream of a connection net/http keeps (HTTP/2, or a
// writer that cannot hijack) from the handler's goroutine.
func (h *Hub) streamSSE(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, ob *outbox) error {
	var d writeDeadline
	for {
		select {
		case <-ctx.Done():
			if code, reason, ok := closeNotice(ctx); ok {
				_ = h.writeSSE(w, rc, &d, sseCloseBytes(code, reason))
			}
			return context.Cause(ctx)
		case <-ob.wake:
		}
		wk := ob.take()
		if wk.empty() {
			continue
		}
		delivered, err := h.sseBatch(wk, 0, func(p []byte, last bool) error {
			if !last {
				return h.writeSSENoFlush(w, rc, &d, p)
			}
			return h.writeSSE(w, rc, &d, p)
		})
		h.metrics.delivered("sse", delivered)
		ob.wrote()
		if err != nil {
			h.metrics.writeErrors.Add(1)
			return err
		}
		if wk.overflow {
			return errSlowConsumer
		}
	}
}

// sseBatch encodes wk's events after reserve bytes of a pooled buffer and
// hands them to write: in one call, or in several when they would pass
// MaxBatchBytes (a long replay goes out in bounded writes); last marks the
// final call. It returns how many messages it wrote. A batch that
// overflowed ends with the slow-consumer close event.
func (h *Hub) sseBatch(wk work, reserve int, write func(p []byte, last bool) error) (delivered int, err error) {
	bp := writeBufs.Get().(*[]byte)
	buf := append((*bp)[:0], make([]byte, reserve)...)
	if wk.ping {
		buf = append(buf, ssePing...)
	}
	add := func(event []byte) {
		if err != nil {
			return
		}
		if len(buf) > reserve && len(buf)+len(event) > h.cfg.MaxBatchBytes+reserve {
			err = write(buf, false)
			buf = buf[:reserve]
		}
		buf = append(buf, event...)
	}
	for _, it := range wk.batch {
		switch {
		case it.msg != nil:
			add(it.msg.SSE())
			delivered++
		case it.resume != nil:
			if g := it.resume.Gap; g != nil {
				add(sseGapBytes(g))
			}
			for _, m := range it.resume.Messages {
				add(m.SSE())
				delivered++
			}
		}
	}
	if wk.overflow {
		h.metrics.slowConsumers.Add(1)
		add(sseCloseBytes(shared.CodeSlowConsumer, "client fell behind: reconnect and resume"))
	}
	if err == nil && len(buf) > reserve {
		err = write(buf, true)
	}
	putWriteBuf(bp, buf)
	return delivered, err
}

var errSlowConsumer = errors.New("duet/server: slow consumer disconnected")

// writeSSENoFlush writes p within WriteTimeout; d is the stream's deadline.
func (h *Hub) writeSSENoFlush(w http.ResponseWriter, rc *http.ResponseController, d *writeDeadline, p []byte) error {
	if at, ok := d.next(h.cfg.WriteTimeout); ok {
		_ = rc.SetWriteDeadline(at)
	}
	_, err := w.Write(p)
	return err
}

func (h *Hub) writeSSE(w http.ResponseWriter, rc *http.ResponseController, d *writeDeadline, p []byte) error {
	if err := h.writeSSENoFlush(w, rc, d, p); err != nil {
		return err
	}
	return rc.Flush()
}

func sseGapBytes(g *Gap) []byte {
	f := gapFrame(g, "")
	return encodeSSE(g.ResumeID.String(), sseGapEvent, shared.AppendFrame(nil, &f))
}

func sseCloseBytes(code shared.Code, msg string) []byte {
	f := shared.Frame{Type: shared.TypeError, Code: code, Message: msg}
	return encodeSSE("", sseCloseEvent, shared.AppendFrame(nil, &f))
}

func gapFrame(g *Gap, ref string) shared.Frame {
	return shared.Frame{
		Type:        shared.TypeGap,
		Ref:         ref,
		Channels:    g.Channels,
		LastEventID: g.From.String(),
		ID:          g.ResumeID.String(),
		Reason:      g.Reason,
	}
}

func (h *Hub) helloFrame() []byte {
	f := shared.Frame{
		Type:          shared.TypeHello,
		Heartbeat:     h.cfg.Heartbeat.Milliseconds(),
		MaxFrameBytes: h.cfg.MaxFrameBytes,
		MaxChannels:   int64(h.cfg.MaxChannels),
	}
	return shared.AppendFrame(nil, &f)
}

func (h *Hub) logEnd(remote, wire string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errShutdown) {
		return
	}
	h.cfg.Logger.Debug("duet: connection ended", "wire", wire, "remote", remote, "err", err)
}
