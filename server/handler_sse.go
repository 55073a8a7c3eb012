package server

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/duet-rt/duet/shared"
	sse "github.com/tmaxmax/go-sse"
)

// SSEHandler serves GET /rt/sse?channel=C[&channel=C2…][&lastEventId=ID].
func (h *Hub) SSEHandler() http.Handler { return http.HandlerFunc(h.serveSSE) }

func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request) {
	if h.cors(w, r, "GET") {
		return
	}
	if refuseMethod(w, r, http.MethodGet) {
		return
	}
	id, aerr := h.authenticate(r.WithContext(context.WithValue(r.Context(), sseRequestKey{}, true)))
	if aerr != nil {
		writeRefusal(w, aerr)
		return
	}
	q := r.URL.Query()
	channels, err := parseChannels(q["channel"], 0, h.cfg.MaxChannels)
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	if err := h.authorize(&id, PermissionSubscribe, channels...); err != nil {
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
	sub := h.subRates.newPublisher(&id, r, false)
	if err := h.subRates.allow(&sub); err != nil {
		var rl *rateLimited
		errors.As(err, &rl)
		h.refuseSSEForNow(w, protocolError(err), rl.retryAfter)
		return
	}
	info, err := h.presence.info(&id, q.Get("info"))
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
	c, ctx, err := h.register(parent, "sse", &id)
	if err != nil {
		release()
		h.refuseSSE(w, err)
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
	ob := h.newConnOutbox()
	ob.expectResume("", !from.IsZero())
	c.presence.info = info
	if err := h.presence.join(subCtx, c, channels); err != nil {
		ob.close()
		h.unregister(c)
		writeError(w, protocolError(err))
		return
	}
	c.onEnd(func() { h.presence.leaveAll(c, ob) })
	if err := h.broker.Subscribe(subCtx, ob, channels, from); err != nil {
		h.metrics.brokerError(err, false)
		ob.close()
		h.unregister(c)
		h.metrics.badRequests.Add(1)
		h.refuseSSE(w, err)
		return
	}
	h.presence.follow(ob, channels)
	h.controlSSE(c, ob, channels)
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
	var d writeDeadline
	if at, ok := d.next(h.cfg.WriteTimeout); ok {
		_ = rc.SetWriteDeadline(at)
	}
	if err := sess.Send(h.sseHello(c)); err != nil {
		return
	}
	if err := sess.Flush(); err != nil {
		return
	}
	clearWriteDeadline(rc, &d)
	hb := h.beats.add(h.cfg.Heartbeat, func(now time.Time) { ob.heartbeat(now, h.cfg.Heartbeat/2) })
	defer h.beats.remove(hb)
	err = h.streamSSE(ctx, w, rc, &d, ob)
	h.logEnd(r.RemoteAddr, "sse", err)
}

func (h *Hub) sseHello(c *conn) *sse.Message {
	hello := &sse.Message{Type: sse.Type(sseHelloEvent), Retry: h.sseRetry()}
	hello.AppendData(string(h.helloFrame(c)))
	return hello
}

// sseRetry returns a jittered reconnection delay for one connection.
func (h *Hub) sseRetry() time.Duration {
	base := h.cfg.SSERetry
	return base/2 + time.Duration(rand.Int64N(int64(base)))
}

// refuseSSE answers an SSE request that failed with err: as refuseSSEForNow
// when the broker is unavailable or the server shuts down (a native
// EventSource then reconnects, in a rolling deploy to the node that
// replaces this one), else as an HTTP error.
func (h *Hub) refuseSSE(w http.ResponseWriter, err error) {
	e := protocolError(err)
	switch e.Code {
	case shared.CodeBrokerUnavailable, shared.CodeShutdown:
		h.refuseSSEForNow(w, e, 0)
	default:
		writeError(w, e)
	}
}

// refuseSSEForNow answers an SSE request refused for a passing reason with
// a 200 stream that says only that: a retry field (at least wait, and
// jittered like every stream's) and a duet.close event with e's code, then
// the end. A native EventSource treats any other status as fatal and would
// never come back; this way it reconnects by itself, with its Last-Event-ID,
// and Duet's clients act on the code.
func (h *Hub) refuseSSEForNow(w http.ResponseWriter, e *shared.Error, wait time.Duration) {
	retry := max(h.sseRetry(), wait)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Retry-After", strconv.FormatInt(max(int64(math.Ceil(retry.Seconds())), 1), 10))
	body := append([]byte("retry: "), strconv.FormatInt(retry.Milliseconds(), 10)...)
	body = append(body, '\n')
	body = append(body, sseCloseBytes(e.Code, e.Message)...)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
