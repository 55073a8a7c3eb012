package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
)

// sseConn is an HTTP/1.1 SSE stream taken over from net/http. The handler
// hijacks the connection, writes the response head and the hello, and
// returns: net/http's goroutine, its 4 KiB read and write buffers, its
// 2 KiB chunking buffer and the request's background reader all go away.
// What stays for an idle stream is one goroutine with a small stack that
// reads the socket to notice the client leaving, the outbox and the
// subscription. A writer goroutine exists only while there is something to
// write; heartbeats come from the hub's heartbeat wheel. The body is
// chunked, as net/http would have sent it.
type sseConn struct {
	h      *Hub
	conn   *conn
	ctx    context.Context
	nc     *resettableConn
	ob     *outbox
	remote string

	wmu      sync.Mutex    // serialises writes to nc: batches, and the closing event
	deadline writeDeadline // guarded by wmu
	writers  sync.WaitGroup
	beat     *beat
	stopWake func() bool // stops the read deadline that ends run
	rbuf     [64]byte
}

// sseChunkReserve is room kept in front of a batch for its chunk header
// (hex size and CRLF), so the batch goes out in one write, uncopied.
const sseChunkReserve = 18

var sseChunkEnd = []byte("0\r\n\r\n")

// hijackSSE takes the stream over; it owns c and ob from here on.
func (h *Hub) hijackSSE(w http.ResponseWriter, r *http.Request, c *conn, ctx context.Context, ob *outbox) {
	s := &sseConn{h: h, conn: c, ctx: ctx, ob: ob, remote: r.RemoteAddr}
	// Head and hello go out in one write.
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	hdr := w.Header()
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	hdr.Set("Transfer-Encoding", "chunked")
	hdr.Set("Connection", "close") // the connection ends with the stream: no reuse
	_ = hdr.Write(&head)
	head.WriteString("\r\n")
	hello, _ := h.sseHello(c).MarshalText()
	head.Write(appendChunk(nil, hello))

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.broker.Unsubscribe(ob)
		ob.close()
		h.unregister(c)
		writeError(w, shared.NewError(shared.CodeInternal, "this response writer cannot stream"))
		return
	}
	_ = brw // a GET has no body; anything the client sent after it is ignored
	s.nc = &resettableConn{Conn: nc}
	_ = nc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := nc.Write(head.Bytes()); err != nil {
		h.metrics.writeErrors.Add(1)
		c.cancel(err)
	}
	ob.onDemand(&s.writers, s.writeLoop)
	// Set up here, on the handler's large stack, so that the resident
	// goroutine's stays at its 2 KiB minimum.
	s.beat = h.beats.add(h.cfg.Heartbeat, func(now time.Time) { ob.heartbeat(now, h.cfg.Heartbeat/2) })
	s.stopWake = context.AfterFunc(ctx, func() {
		_ = nc.SetReadDeadline(time.Unix(1, 0)) // wake the read in run
	})
	go s.run()
}

// run is the stream's resident goroutine: it reads the socket until the
// client leaves or the stream is ended, then tears the stream down.
func (s *sseConn) run() {
	h := s.h
	var err error
	for err == nil {
		_, err = s.nc.Read(s.rbuf[:]) // a client sends nothing more: this waits for it to leave
	}
	s.stopWake()
	clientLeft := s.ctx.Err() == nil
	if errors.Is(err, io.EOF) {
		err = nil // a client that closes its end just left: context.Canceled
	}
	s.conn.cancel(err)
	h.beats.remove(s.beat)
	s.ob.close()
	h.broker.Unsubscribe(s.ob)

	cause := context.Cause(s.ctx)
	timedOut := errors.Is(cause, os.ErrDeadlineExceeded)
	slow := errors.Is(cause, errSlowConsumer)
	s.wmu.Lock()
	var werr error
	if !clientLeft && !timedOut {
		// The server ends the stream (not a client that stopped reading):
		// say why if it is a shutdown, and end the chunked body properly.
		var last []byte
		if code, reason, ok := closeNotice(s.ctx); ok {
			last = appendChunk(nil, sseCloseBytes(code, reason))
		}
		last = append(last, sseChunkEnd...)
		_ = s.nc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		_, werr = s.nc.Write(last)
	}
	s.wmu.Unlock() // writers write nothing more: the context is done
	if !clientLeft && (timedOut || slow) {
		s.nc.giveUp()
		if slow && werr == nil {
			// The close event is written: a client that reads gets it.
			s.nc.drain(h.cfg.WriteTimeout)
		}
	}
	_ = s.nc.Close()
	s.writers.Wait()
	h.unregister(s.conn)
	h.logEnd(s.remote, "sse", context.Cause(s.ctx))
}

// writeLoop writes what the outbox holds, one chunk per batch, and returns
// once it is empty; the outbox starts it again when work arrives.
func (s *sseConn) writeLoop() {
	h := s.h
	for {
		h.gather(s.ob)
		wk := s.ob.take()
		if wk.empty() {
			return
		}
		s.wmu.Lock()
		if s.ctx.Err() != nil {
			s.wmu.Unlock()
			continue // drain without writing: run ends the stream
		}
		h.metrics.writerPass(&wk)
		now := time.Now()
		_, err := h.sseBatch(wk, now, sseChunkReserve, s.writeChunk)
		s.wmu.Unlock()
		s.ob.wrote(now)
		if err != nil {
			h.metrics.writeErrors.Add(1)
			s.conn.cancel(err)
			continue
		}
		if wk.overflow {
			s.conn.cancel(errSlowConsumer)
		}
		if !wk.cutAt.IsZero() {
			s.conn.cancel(errReplayCut)
		}
	}
}

// writeChunk writes p, whose first sseChunkReserve bytes are free, as one
// chunk within WriteTimeout. The caller holds wmu.
func (s *sseConn) writeChunk(p []byte, _ bool) error {
	var hdr [sseChunkReserve]byte
	h := strconv.AppendInt(hdr[:0], int64(len(p)-sseChunkReserve), 16)
	h = append(h, '\r', '\n')
	out := p[sseChunkReserve-len(h):]
	copy(out, h)
	out = append(out, '\r', '\n')
	s.deadline.arm(s.nc, s.h.cfg.WriteTimeout)
	_, err := s.nc.Write(out)
	return err
}

// appendChunk appends p to dst as one chunk of a chunked body.
func appendChunk(dst, p []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(p)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, p...)
	return append(dst, '\r', '\n')
}
