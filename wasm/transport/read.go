package transport

import (
	"bytes"
	"strings"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Received implements WireEvents.
func (a *attempt) Received(p []byte) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) {
		return
	}
	a.lastRecv = c.clk.Now()
	if a.kind == KindSSE {
		if err := a.sse.Feed(p); err != nil && c.current(a) {
			c.dropLocked(a, shared.CodeNormal, "")
			c.endLocked(a, shared.CodeInternalError, err.Error())
		}
		return
	}
	// A WebSocket message may carry several frames, one per line.
	for len(p) > 0 && c.current(a) {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if blank(line) {
			continue
		}
		f, err := shared.DecodeFrame(line)
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable frame from the server: "+err.Error()))
			continue
		}
		c.frameLocked(a, &f)
	}
}

// ReceivedBinary implements WireEvents.
func (a *attempt) ReceivedBinary(p []byte) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.kind != KindWebSocket {
		return
	}
	a.lastRecv = c.clk.Now()
	f, err := shared.DecodeBinaryFrame(p)
	if err != nil {
		c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable binary frame from the server: "+err.Error()))
		return
	}
	if f.Type != shared.TypeMessage {
		c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: the server sent a binary frame that is not a message"))
		return
	}
	c.frameLocked(a, &f)
}

// blank reports whether line holds nothing but JSON whitespace.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// sseEventLocked turns an SSE event into the frame it stands for.
func (c *Conn) sseEventLocked(a *attempt, ev shared.SSEEvent) {
	if !c.current(a) {
		return
	}
	switch ev.Type {
	case "duet.hello":
		f, err := shared.DecodeFrame([]byte(ev.Data))
		if err != nil {
			f = shared.Frame{}
		}
		f.Type = shared.TypeHello
		c.frameLocked(a, &f)
	case "duet.gap":
		f, err := shared.DecodeFrame([]byte(ev.Data))
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable gap notice: "+err.Error()))
			return
		}
		f.Type = shared.TypeGap
		if f.ID == "" {
			f.ID = ev.LastEventID
		}
		c.frameLocked(a, &f)
	case "duet.join", "duet.leave":
		f, err := shared.DecodeFrame([]byte(ev.Data))
		if err == nil {
			c.presenceFrameLocked(&f)
		}
	case "duet.close":
		f, _ := shared.DecodeFrame([]byte(ev.Data))
		code := f.Code
		if code == 0 {
			code = shared.CodeGoingAway
		}
		c.dropLocked(a, shared.CodeNormal, "")
		c.endLocked(a, code, f.Message)
	default:
		if strings.HasPrefix(ev.Type, shared.ReservedEventPrefix) {
			return // a control event of a later protocol version
		}
		e, err := shared.DecodeEnvelope([]byte(ev.Data))
		if err != nil {
			c.reportLocked(shared.NewError(shared.CodeBadRequest, "duet/transport: undecodable message: "+err.Error()))
			return
		}
		if e.ID == "" {
			e.ID = ev.LastEventID
		}
		if e.Event == "" {
			e.Event = ev.Type
		}
		f := shared.MessageFrame(&e)
		c.frameLocked(a, &f)
	}
}

// frameLocked acts on one frame from the server.
func (c *Conn) frameLocked(a *attempt, f *shared.Frame) {
	if c.presenceFrameLocked(f) {
		return
	}
	switch f.Type {
	case shared.TypeHello:
		c.clientID.Store(f.Client)
		if f.Heartbeat > 0 {
			c.heartbeat = time.Duration(f.Heartbeat) * time.Millisecond
		}
		if f.MaxFrameBytes > 0 {
			c.maxFrame = int(f.MaxFrameBytes)
		}
		c.liveLocked(a)
	case shared.TypeMessage:
		c.liveLocked(a)
		c.messageLocked(f.Envelope())
	case shared.TypeGap:
		c.liveLocked(a)
		c.gapLocked(&Gap{Channels: f.Channels, LastEventID: f.LastEventID, ID: f.ID, Reason: f.Reason})
	case shared.TypeAck:
		if p := c.pending[f.Ref]; p != nil {
			c.settleLocked(p, f.ID, nil)
		}
	case shared.TypeError:
		e := shared.NewError(f.Code, f.Message)
		if p := c.pending[f.Ref]; p != nil {
			c.settleLocked(p, "", e)
			return
		}
		c.reportLocked(e)
	}
	// ping, pong, subscribed, unsubscribed and types of later versions need
	// nothing: receiving them proved the connection alive.
}

func (c *Conn) messageLocked(e shared.Envelope) {
	// The channel first: a message this connection does not hold (one of a
	// channel just unsubscribed, or no channel at all) must not move the
	// resume position.
	if !c.hasChannel(e.Channel) || !c.cursor.Accept(e.ID) {
		return // a message of a channel not held, or a duplicate
	}
	if e.Event == "" {
		e.Event = shared.DefaultEvent
	}
	obs := c.obs
	c.later(func() { obs.Message(&e) })
}

func (c *Conn) gapLocked(g *Gap) {
	if !c.acceptGapLocked(g) {
		return
	}
	obs := c.obs
	c.later(func() { obs.Gap(g) })
}

func (c *Conn) reportLocked(e *shared.Error) {
	obs := c.obs
	c.later(func() { obs.Error(e, false) })
}
