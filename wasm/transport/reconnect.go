package transport

import (
	"time"

	"github.com/duet-rt/duet/shared"
)

// endLocked handles the end of the current attempt a, already dropped, by
// code: fall back to SSE, reconnect, refresh credentials, or stop.
func (c *Conn) endLocked(a *attempt, code shared.Code, reason string) {
	if c.probe != nil {
		c.dropLocked(c.probe, shared.CodeNormal, "")
	}
	stopTimer(&c.probeTimer)
	c.lostAcksLocked()
	if c.state == StateClosed {
		return
	}
	action := code.Action()
	if !a.live && a.kind == KindWebSocket && c.cfg.Mode == ModeAuto &&
		action == shared.ActionReconnect && !c.fallback {
		// WebSocket did not open: a proxy that refuses the upgrade, or the
		// server is down. SSE tells which, at once.
		c.wsFailed, c.fallback = true, true
		c.dialLocked()
		return
	}
	c.fallback = false
	if action == shared.ActionStop {
		if reason == "" {
			reason = code.String()
		}
		c.stopLocked(shared.NewError(code, reason))
		return
	}
	if c.everOpen {
		c.setStateLocked(StateReconnecting, c.kind)
	}
	if code == shared.CodeReplayLimit {
		// The server replayed what it may at once and asks for the rest on
		// a new connection: progress, not a failure, so no growing delay.
		c.retry.Reset()
	}
	delay := c.retry.Next(c.clk.Now())
	if action == shared.ActionRefresh {
		c.refreshing = true
		d := c.d
		gen := c.retryGen
		due := c.clk.Now().Add(delay)
		c.later(func() {
			d.Refresh(func(err error) { c.refreshed(gen, due, err) })
		})
		return
	}
	c.scheduleDialLocked(delay)
}

// refreshed continues a reconnection once the Dialer refreshed credentials.
func (c *Conn) refreshed(gen int, due time.Time, err error) {
	c.lock()
	defer c.unlock()
	if gen != c.retryGen || !c.refreshing || c.state == StateClosed {
		return
	}
	c.refreshing = false
	if err != nil {
		c.reportLocked(shared.NewError(shared.CodeUnauthorized, "duet/transport: refreshing credentials failed: "+err.Error()))
	}
	c.scheduleDialLocked(max(due.Sub(c.clk.Now()), 0))
}

func (c *Conn) scheduleDialLocked(d time.Duration) {
	stopTimer(&c.retryTimer)
	c.retryGen++
	gen := c.retryGen
	c.retryTimer = c.clk.AfterFunc(d, func() { c.retryDue(gen) })
}

func (c *Conn) retryDue(gen int) {
	c.lock()
	defer c.unlock()
	if gen != c.retryGen || c.retryTimer == nil || c.state == StateClosed {
		return
	}
	c.retryTimer = nil
	c.dialLocked()
}

// waitingLocked reports whether a reconnection is waiting for its delay.
func (c *Conn) waitingLocked() bool {
	return c.cur == nil && c.retryTimer != nil && c.state != StateClosed
}

// restartLocked replaces the current connection at once, without counting a
// failure: the network came back, or the page woke up to a silent one.
func (c *Conn) restartLocked(reason string) {
	if a := c.cur; a != nil {
		c.dropLocked(a, shared.CodeNormal, reason)
	}
	if c.probe != nil {
		c.dropLocked(c.probe, shared.CodeNormal, "")
	}
	c.lostAcksLocked()
	c.refreshing = false
	c.fallback = false
	if c.everOpen {
		c.setStateLocked(StateReconnecting, c.kind)
	}
	c.dialLocked()
}

func (c *Conn) timeoutLocked() time.Duration {
	if c.cfg.HeartbeatTimeout > 0 {
		return c.cfg.HeartbeatTimeout
	}
	hb := c.heartbeat
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	return hb * 5 / 2
}

func (c *Conn) armWatchdogLocked() {
	stopTimer(&c.watchdog)
	a := c.cur
	if a == nil || !a.live || a.idle {
		return
	}
	due := a.lastRecv.Add(c.timeoutLocked()).Sub(c.clk.Now())
	c.watchdog = c.clk.AfterFunc(max(due, 0), func() { c.watchdogDue(a) })
}

func (c *Conn) watchdogDue(a *attempt) {
	c.lock()
	defer c.unlock()
	if a != c.cur || a.dead {
		return
	}
	c.watchdog = nil
	timeout := c.timeoutLocked()
	if c.clk.Now().Sub(a.lastRecv) < timeout {
		c.armWatchdogLocked()
		return
	}
	c.dropLocked(a, shared.CodeHeartbeatTimeout, "no heartbeat")
	c.endLocked(a, shared.CodeHeartbeatTimeout, "duet/transport: nothing from the server for "+millis(int64(timeout)))
}

// Online tells the connection the browser is online again: a reconnection
// waiting for its delay dials at once, and a connection that lived through
// the outage is replaced, as it may be dead without knowing.
func (c *Conn) Online() {
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || !c.started {
		return
	}
	offline := c.offline
	c.offline = false
	switch {
	case c.waitingLocked():
		c.retry.Reset()
		c.restartLocked("")
	case offline && c.cur != nil && c.cur.live && !c.cur.idle:
		c.restartLocked("network changed")
	}
}

// Offline tells the connection the browser went offline.
func (c *Conn) Offline() {
	c.lock()
	defer c.unlock()
	c.offline = true
}

// Visible tells the connection the page became visible. Hidden pages have
// their timers throttled, so a reconnection delay or a heartbeat check may
// be long overdue: a waiting reconnection dials at once, and a connection
// silent for longer than the heartbeat timeout is replaced.
func (c *Conn) Visible() {
	c.lock()
	defer c.unlock()
	if c.state == StateClosed || !c.started {
		return
	}
	switch a := c.cur; {
	case c.waitingLocked():
		c.restartLocked("")
	case a != nil && a.live && !a.idle && c.clk.Now().Sub(a.lastRecv) >= c.timeoutLocked():
		c.restartLocked("no heartbeat")
	}
}
