package transport

import (
	"slices"
	"time"

	"github.com/duet-rt/duet/shared"
)

// attempt is one dialed wire. It is the WireEvents the wire reports to.
type attempt struct {
	c    *Conn
	kind Kind
	wire Wire // set once the Dialer returns
	dead bool // given up: its events are ignored

	opened   bool // the wire opened
	live     bool // the server said hello (or sent anything that implies it)
	idle     bool // SSE with no channel: nothing to request, live at once
	subSent  bool // a subscribe frame carrying the resume id went out
	lastRecv time.Time
	sse      *shared.SSEParser
	connect  Timer // the connect timeout
}

// dialLocked starts an attempt on the wire the policy picks.
func (c *Conn) dialLocked() {
	stopTimer(&c.retryTimer)
	c.retryGen++
	a := &attempt{c: c, kind: c.chooseKindLocked(), lastRecv: c.clk.Now()}
	c.cur = a
	if a.kind == KindSSE && len(c.channels) == 0 {
		// The SSE endpoint needs a channel; with none there is nothing to
		// stream, and publishes go by POST anyway.
		a.idle, a.opened = true, true
		c.liveLocked(a)
		return
	}
	c.startAttemptLocked(a)
}

// startAttemptLocked dials a's wire and arms its connect timeout.
func (c *Conn) startAttemptLocked(a *attempt) {
	a.connect = c.clk.AfterFunc(c.cfg.ConnectTimeout, func() { c.connectTimedOut(a) })
	d := c.d
	if a.kind == KindWebSocket {
		url := c.ep.WS
		c.later(func() { c.attach(a, d.DialWebSocket(url, a)) })
		return
	}
	a.sse = &shared.SSEParser{
		OnEvent:      func(ev shared.SSEEvent) { c.sseEventLocked(a, ev) },
		MaxLineBytes: maxSSELine,
	}
	url := c.ep.SSEURL(c.channels, c.cursor.Last())
	c.later(func() { c.attach(a, d.DialSSE(url, a)) })
}

// attach records the wire the Dialer returned for a, or closes it if a was
// given up meanwhile.
func (c *Conn) attach(a *attempt, w Wire) {
	if w == nil {
		return
	}
	c.lock()
	keep := !a.dead
	if keep {
		a.wire = w
	}
	c.unlock()
	if !keep {
		w.Close(shared.CodeNormal, "")
	}
}

// dropLocked gives a up and closes its wire.
func (c *Conn) dropLocked(a *attempt, code shared.Code, reason string) {
	if a.dead {
		return
	}
	a.dead = true
	stopTimer(&a.connect)
	if a == c.cur {
		c.cur = nil
		stopTimer(&c.watchdog)
		stopTimer(&c.resubTimer)
	}
	if a == c.probe {
		c.probe = nil
	}
	if code == shared.CodeAbnormal || code == shared.CodeGoingAway || code < 1000 || (code > 1000 && code < 3000) {
		code = shared.CodeNormal // browsers let scripts send only 1000 and 3000–4999
	}
	c.later(func() {
		c.lock()
		w := a.wire
		a.wire = nil
		c.unlock()
		if w != nil {
			w.Close(code, reason)
		}
	})
}

// sendLocked sends f on a's WebSocket.
func (c *Conn) sendLocked(a *attempt, f *shared.Frame) {
	c.sendRawLocked(a, shared.AppendFrame(nil, f), false)
}

// sendRawLocked sends p on a's WebSocket: a text message, or a binary one
// (a binary publish frame).
func (c *Conn) sendRawLocked(a *attempt, p []byte, binary bool) {
	c.later(func() {
		c.lock()
		w := a.wire
		c.unlock()
		if w == nil {
			return
		}
		// A failed send is followed by the close event.
		if binary {
			_ = w.SendBinary(p)
		} else {
			_ = w.Send(p)
		}
	})
}

// Opened implements WireEvents.
func (a *attempt) Opened() {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.opened {
		return
	}
	a.opened = true
	a.lastRecv = c.clk.Now()
	if a.kind == KindWebSocket && len(c.channels) > 0 {
		c.sendLocked(a, &shared.Frame{
			Type:        shared.TypeSubscribe,
			Ref:         c.nextRef('s'),
			Channels:    slices.Clone(c.channels),
			LastEventID: c.cursor.Last(),
		})
		a.subSent = true
	}
}

// Closed implements WireEvents.
func (a *attempt) Closed(code shared.Code, reason string) {
	c := a.c
	c.lock()
	defer c.unlock()
	if !c.current(a) {
		return
	}
	a.wire = nil // the wire is gone: nothing to close
	if a == c.probe {
		c.probeFailedLocked(a)
		return
	}
	c.dropLocked(a, shared.CodeNormal, "")
	c.endLocked(a, code, reason)
}

// liveLocked is called on the first sign of a working attempt.
func (c *Conn) liveLocked(a *attempt) {
	if a.live {
		return
	}
	a.live = true
	stopTimer(&a.connect)
	now := c.clk.Now()
	if a == c.probe {
		// WebSocket works again: it takes over from SSE. It subscribed
		// from the cursor when it opened, so whatever SSE delivers until it
		// is closed is a duplicate the cursor drops.
		old := c.cur
		c.probe, c.cur = nil, a
		stopTimer(&c.probeTimer)
		if old != nil {
			c.dropLocked(old, shared.CodeNormal, "switching to WebSocket")
		}
	}
	c.retry.Connected(now)
	c.fallback = false
	c.offline = false
	if a.kind == KindWebSocket {
		c.wsFailed, c.wsBlockFor, c.wsBlockedUntil = false, 0, time.Time{}
		stopTimer(&c.probeTimer)
	} else if c.cfg.Mode == ModeAuto && c.wsFailed {
		c.wsFailed = false
		c.blockWSLocked(now)
	} else if c.cfg.Mode == ModeAuto && !c.wsBlockedUntil.IsZero() && c.probeTimer == nil {
		// Back on SSE within the block: the probe comes when it ends.
		c.probeTimer = c.clk.AfterFunc(max(c.wsBlockedUntil.Sub(now), 0), c.probeDue)
	}
	c.setStateLocked(StateOpen, a.kind)
	c.armWatchdogLocked()
	c.flushQueueLocked()
}

func (c *Conn) connectTimedOut(a *attempt) {
	c.lock()
	defer c.unlock()
	if !c.current(a) || a.live {
		return
	}
	a.connect = nil
	if a == c.probe {
		c.probeFailedLocked(a)
		return
	}
	c.dropLocked(a, shared.CodeNormal, "connect timeout")
	c.endLocked(a, shared.CodeAbnormal, "duet/transport: no answer from the server within "+millis(int64(c.cfg.ConnectTimeout)))
}
