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
	defer release()
	c, ctx, err := h.register(r.Context(), "sse")
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	defer h.unregister(c)
	defer h.expireAt(c, &id)()

	ob := newOutbox(h.cfg.QueueSize)
	defer ob.close()
	if err := h.broker.Subscribe(ctx, ob, channels, from); err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	defer h.broker.Unsubscribe(ob)

	sess, err := sse.Upgrade(w, r)
	if err != nil {
		writeError(w, shared.NewError(shared.CodeInternal, "this response writer cannot stream"))
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	hello := &sse.Message{Type: sse.Type(sseHelloEvent), Retry: h.sseRetry()}
	hello.AppendData(string(h.helloFrame()))
	if err := sess.Send(hello); err != nil {
		return
	}
	if err := sess.Flush(); err != nil {
		return
	}

	err = h.streamSSE(ctx, w, rc, ob)
	h.logEnd(r, "sse", err)
}

// sseRetry returns a jittered reconnection delay for one connection.
func (h *Hub) sseRetry() time.Duration {
	base := h.cfg.SSERetry
	return base/2 + time.Duration(rand.Int64N(int64(base)))
}

func (h *Hub) streamSSE(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, ob *outbox) error {
	heartbeat := time.NewTicker(h.cfg.Heartbeat)
	defer heartbeat.Stop()
	lastWrite := time.Now()
	for {
		var pending []byte
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if errors.Is(cause, errShutdown) {
				_ = h.writeSSE(w, rc, sseCloseBytes(shared.CodeShutdown, "the server is shutting down: reconnect"))
			}
			if code, reason, ok := authCloseNotice(ctx); ok {
				_ = h.writeSSE(w, rc, sseCloseBytes(code, reason))
			}
			return cause
		case now := <-heartbeat.C:
			// A connection written to recently needs no heartbeat; the
			// longest silence is then 1.5 heartbeats.
			if now.Sub(lastWrite) >= h.cfg.Heartbeat/2 {
				pending = ssePing
			}
		case <-ob.wake:
		}

		batch, overflow := ob.take()
		if len(batch) == 0 && !overflow && pending == nil {
			continue
		}
		bp := writeBufs.Get().(*[]byte)
		buf := append((*bp)[:0], pending...)
		var err error
		delivered := 0
		// add appends one event, first writing out what is buffered when the
		// event would take it past MaxBatchBytes (a long replay goes out in
		// bounded writes; one flush ends the batch).
		add := func(event []byte) {
			if err != nil {
				return
			}
			if len(buf) > 0 && len(buf)+len(event) > h.cfg.MaxBatchBytes {
				err = h.writeSSENoFlush(w, rc, buf)
				buf = buf[:0]
			}
			buf = append(buf, event...)
		}
		for _, it := range batch {
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
		if overflow {
			h.metrics.slowConsumers.Add(1)
			add(sseCloseBytes(shared.CodeSlowConsumer, "client fell behind: reconnect and resume"))
		}
		if err == nil {
			err = h.writeSSE(w, rc, buf)
		}
		*bp = buf[:0]
		if cap(buf) <= 256<<10 {
			writeBufs.Put(bp)
		}
		h.metrics.delivered("sse", delivered)
		lastWrite = time.Now()
		if err != nil {
			h.metrics.writeErrors.Add(1)
			return err
		}
		if overflow {
			return errSlowConsumer
		}
	}
}

var errSlowConsumer = errors.New("duet/server: slow consumer disconnected")

func (h *Hub) writeSSENoFlush(w http.ResponseWriter, rc *http.ResponseController, p []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_, err := w.Write(p)
	return err
}

func (h *Hub) writeSSE(w http.ResponseWriter, rc *http.ResponseController, p []byte) error {
	if err := h.writeSSENoFlush(w, rc, p); err != nil {
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

func (h *Hub) logEnd(r *http.Request, wire string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errShutdown) {
		return
	}
	h.cfg.Logger.Debug("duet: connection ended", "wire", wire, "remote", r.RemoteAddr, "err", err)
}
