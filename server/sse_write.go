package server

import (
	"context"
	"net/http"
	"time"

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
func (h *Hub) streamSSE(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, d *writeDeadline, ob *outbox) error {
	for {
		select {
		case <-ctx.Done():
			if code, reason, ok := closeNotice(ctx); ok {
				_ = h.writeSSE(w, rc, d, sseCloseBytes(code, reason))
			}
			return context.Cause(ctx)
		case <-ob.wake:
		}
		h.gather(ob)
		wk := ob.take()
		if wk.empty() {
			continue
		}
		h.metrics.writerPass(&wk)
		now := time.Now()
		_, err := h.sseBatch(wk, now, 0, func(p []byte, last bool) error {
			if !last {
				return h.writeSSENoFlush(w, rc, d, p)
			}
			return h.writeSSE(w, rc, d, p)
		})
		ob.wrote(now)
		if err != nil {
			h.metrics.writeErrors.Add(1)
			return err
		}
		if wk.overflow {
			return errSlowConsumer
		}
		if !wk.cutAt.IsZero() {
			return errReplayCut
		}
	}
}

// sseBatch encodes wk's events, written at now, after reserve bytes of a
// pooled buffer and hands them to write: in one call, or in several when
// they would pass MaxBatchBytes (a long replay goes out in bounded writes);
// last marks the final call. It returns how many messages it wrote, and
// counts them and their latencies in the hub's metrics. A batch that
// overflowed ends with the slow-consumer close event.
func (h *Hub) sseBatch(wk work, now time.Time, reserve int, write func(p []byte, last bool) error) (delivered int, err error) {
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
	lat := latencies{now: now.UnixMilli()}
	hist := h.metrics.sseLatency
	for _, it := range wk.batch {
		switch {
		case it.msg != nil:
			add(it.msg.SSE())
			lat.add(hist, it.msg)
			delivered++
		case it.presence != nil:
			add(it.presence.sse)
		case it.resume != nil:
			if it.resuming {
				h.metrics.resumed(it.resume)
			}
			if g := it.resume.Gap; g != nil {
				add(sseGapBytes(g))
			}
			for _, m := range it.resume.Messages {
				add(m.SSE())
				lat.add(hist, m)
				delivered++
			}
		}
	}
	if wk.overflow {
		h.metrics.slowConsumers.Add(1)
		add(sseCloseBytes(shared.CodeSlowConsumer, "client fell behind: reconnect and resume"))
	}
	if !wk.cutAt.IsZero() {
		// The close event carries the id to resume from, so a native
		// EventSource's Last-Event-ID is it whatever it saw before.
		f := shared.Frame{Type: shared.TypeError, Code: shared.CodeReplayLimit, Message: replayCutReason(wk.cutAt), ID: wk.cutAt.String()}
		add(encodeSSE(wk.cutAt.String(), sseCloseEvent, shared.AppendFrame(nil, &f)))
	}
	if err == nil && len(buf) > reserve {
		err = write(buf, true)
	}
	putWriteBuf(bp, buf)
	h.metrics.delivered("sse", delivered, &lat)
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

// writeSSE writes and flushes p within WriteTimeout, then clears the
// deadline: HTTP/2 resets a stream whose write deadline passes even while
// nothing is being written, so an idle stream between heartbeats must not
// carry one (a stalled write still meets it, and is cut).
func (h *Hub) writeSSE(w http.ResponseWriter, rc *http.ResponseController, d *writeDeadline, p []byte) error {
	if err := h.writeSSENoFlush(w, rc, d, p); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil {
		return err
	}
	clearWriteDeadline(rc, d)
	return nil
}

// clearWriteDeadline removes the in-handler stream's write deadline once
// everything written has been flushed.
func clearWriteDeadline(rc *http.ResponseController, d *writeDeadline) {
	*d = writeDeadline{}
	_ = rc.SetWriteDeadline(time.Time{})
}

func sseGapBytes(g *Gap) []byte {
	f := gapFrame(g, "")
	return encodeSSE(g.ID.String(), sseGapEvent, shared.AppendFrame(nil, &f))
}

func sseCloseBytes(code shared.Code, msg string) []byte {
	f := shared.Frame{Type: shared.TypeError, Code: code, Message: msg}
	return encodeSSE("", sseCloseEvent, shared.AppendFrame(nil, &f))
}
