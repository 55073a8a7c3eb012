package server

import (
	"bytes"
	"context"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
)

// Reading from a WebSocket: the client's frames (text frames of JSON lines,
// binary publish frames) and what the connection does with each.

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
			wc.handleBinary(p)
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
	case shared.TypePresence, shared.TypePresenceStats:
		wc.presence(&f)
	case shared.TypeHistory:
		wc.history(&f)
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
	id, err := wc.h.publishFrame(wc.ctx, f)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	wc.reply(shared.Frame{Type: shared.TypeAck, Ref: f.Ref, ID: id.String()})
}

func (wc *wsConn) subscribe(f *shared.Frame) {
	if err := wc.h.subRates.allow(&wc.auth.sub); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	wc.chMu.Lock()
	held := len(wc.channels)
	wc.chMu.Unlock()
	names, err := parseChannels(f.Channels, held, wc.h.cfg.MaxChannels)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	if err := wc.h.authorize(&wc.auth.id, PermissionSubscribe, names...); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	from, err := parseResumeID(f.LastEventID)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	fresh := names[:0]
	wc.chMu.Lock()
	for _, n := range names {
		if _, ok := wc.channels[n]; !ok {
			fresh = append(fresh, n)
		}
	}
	wc.chMu.Unlock()
	if err := wc.h.presence.join(wc.ctx, wc.conn, fresh); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	wc.ob.expectResume(f.Ref, !from.IsZero())
	if err := wc.h.broker.Subscribe(wc.ctx, wc.ob, fresh, from); err != nil {
		wc.ob.cancelResume()
		wc.h.metrics.brokerError(err, false)
		wc.h.presence.leave(wc.conn, wc.ob, fresh)
		wc.replyErr(f.Ref, err)
		return
	}
	wc.h.presence.follow(wc.ob, fresh)
	wc.chMu.Lock()
	for _, n := range fresh {
		wc.channels[n] = struct{}{}
	}
	wc.chMu.Unlock()
}

func (wc *wsConn) unsubscribe(f *shared.Frame) {
	var gone []string
	wc.chMu.Lock()
	for _, n := range f.Channels {
		if _, ok := wc.channels[n]; ok {
			delete(wc.channels, n)
			gone = append(gone, n)
		}
	}
	wc.chMu.Unlock()
	if len(gone) > 0 {
		wc.h.broker.Unsubscribe(wc.ob, gone...)
		wc.h.presence.leave(wc.conn, wc.ob, gone)
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

// handleBinary acts on a binary WebSocket message from the client: a binary
// publish, answered by a JSON ack or error frame like a JSON publish.
func (wc *wsConn) handleBinary(p []byte) {
	f, err := shared.DecodeBinaryFrame(p)
	if err != nil {
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Code: shared.CodeBadRequest, Message: err.Error()})
		return
	}
	if f.Type != shared.TypePublish {
		wc.h.metrics.badRequests.Add(1)
		wc.reply(shared.Frame{Type: shared.TypeError, Code: shared.CodeBadRequest, Message: "a client may send only binary publish frames (kind 0x01)"})
		return
	}
	wc.publish(&f) // f.Binary is set: publishFrame publishes the bytes
}
