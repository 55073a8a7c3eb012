package server

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Writing to a WebSocket: batches of frames from the outbox, heartbeats and
// protocol pings. The bytes go out through the connection's wsWire.

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
		h.gather(wc.ob)
		wk := wc.ob.take()
		if wk.empty() {
			return
		}
		if wc.ctx.Err() != nil {
			continue // drain without writing: finish closes the connection
		}
		h.metrics.writerPass(&wk)
		now := time.Now()
		_, err := h.wsBatch(wk, now, wsFrameReserve, wc.write)
		wc.ob.wrote(now)
		if err != nil {
			h.metrics.writeErrors.Add(1)
			wc.conn.cancel(err)
			continue
		}
		if wk.overflow {
			h.metrics.slowConsumers.Add(1)
			wc.closeWith(shared.CodeSlowConsumer, "client fell behind: reconnect and resume", errSlowConsumer)
		}
		if !wk.cutAt.IsZero() {
			wc.closeWith(shared.CodeReplayLimit, replayCutReason(wk.cutAt), errReplayCut)
		}
	}
}

// wsBatch encodes wk's frames, written at now, into WebSocket text frames,
// several protocol frames per WebSocket frame separated by '\n', and hands
// each to write: one per batch, or more when a batch would pass
// MaxBatchBytes. The first reserve bytes of a text frame's p are free (for
// the frame header). A binary message goes to write on its own (binary true,
// nothing reserved), after the text buffered before it, so id order holds.
// It returns how many messages it wrote, and counts them and their latencies
// in the hub's metrics.
func (h *Hub) wsBatch(wk work, now time.Time, reserve int, write func(p []byte, binary bool) error) (delivered int, err error) {
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
	lat := latencies{now: now.UnixMilli()}
	hist := h.metrics.wsLatency
	for _, it := range wk.batch {
		switch {
		case it.msg != nil:
			addMsg(it.msg)
			lat.add(hist, it.msg)
			delivered++
		case it.frame != nil:
			add(it.frame)
		case it.presence != nil:
			add(it.presence.frame)
		case it.resume != nil:
			r := it.resume
			if it.resuming {
				h.metrics.resumed(r)
			}
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
				lat.add(hist, m)
				delivered++
			}
		}
	}
	if err == nil && len(buf) > reserve {
		err = write(buf, false)
	}
	putWriteBuf(bp, buf)
	h.metrics.delivered("ws", delivered, &lat)
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
