package server

import (
	"context"
	"net/http"

	"github.com/duet-rt/duet/shared"
)

// Writing SSE streams: the batches of events both SSE paths write (the
// hijacked stream of sseConn and the stream net/http keeps), and the
// in-handler path's writes.

// SSE control events. Native EventSource clients never see them unless they
// listen for these names; Duet's clients do.
const (
	sseHelloEvent = "duet.hello"
	sseGapEvent   = "duet.gap"
	sseCloseEvent = "duet.close"
)

var ssePing = []byte(":ping\n\n")

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
		case it.presence != nil:
			add(it.presence.sse)
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
	return encodeSSE(g.ID.String(), sseGapEvent, shared.AppendFrame(nil, &f))
}

func sseCloseBytes(code shared.Code, msg string) []byte {
	f := shared.Frame{Type: shared.TypeError, Code: code, Message: msg}
	return encodeSSE("", sseCloseEvent, shared.AppendFrame(nil, &f))
}
