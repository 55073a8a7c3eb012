package transport

import (
	"time"

	"github.com/duet-rt/duet/shared"
)

// chooseKindLocked is the wire policy.
func (c *Conn) chooseKindLocked() Kind {
	switch c.cfg.Mode {
	case ModeWebSocket:
		return KindWebSocket
	case ModeSSE:
		return KindSSE
	}
	if c.fallback || c.clk.Now().Before(c.wsBlockedUntil) {
		return KindSSE
	}
	return KindWebSocket
}

// blockWSLocked keeps auto mode on SSE for a while, after which a probe
// tries WebSocket again.
func (c *Conn) blockWSLocked(now time.Time) {
	switch {
	case c.wsBlockFor == 0:
		c.wsBlockFor = c.cfg.WSRetryAfter
	case c.wsBlockFor < c.cfg.WSRetryAfter*maxWSBlockGrowth:
		c.wsBlockFor *= 2
	}
	c.wsBlockedUntil = now.Add(c.wsBlockFor)
	stopTimer(&c.probeTimer)
	c.probeTimer = c.clk.AfterFunc(c.wsBlockFor, c.probeDue)
}

// probeDue tries WebSocket again while SSE carries the connection.
func (c *Conn) probeDue() {
	c.lock()
	defer c.unlock()
	c.probeTimer = nil
	if c.state == StateClosed || c.probe != nil || c.cur == nil || !c.cur.live ||
		c.cur.kind != KindSSE || c.cfg.Mode != ModeAuto {
		return // the next reconnection picks WebSocket by itself
	}
	a := &attempt{c: c, kind: KindWebSocket, lastRecv: c.clk.Now()}
	c.probe = a
	c.startAttemptLocked(a)
}

func (c *Conn) probeFailedLocked(a *attempt) {
	c.dropLocked(a, shared.CodeNormal, "")
	if c.cur != nil && c.cur.live && c.cur.kind == KindSSE {
		c.blockWSLocked(c.clk.Now())
	}
}
