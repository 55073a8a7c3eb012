package demo

import (
	"context"
	"net/http"
	"time"
)

// The pulse: every PulseEvery, while a home page watches, the demo
// publishes on PulseChannel how many connections the server holds. It is an
// application message, not Duet's heartbeat (SSE comments and WebSocket
// pings that pages never see). Like the other generators it is quiet when
// nobody watches, so a server nobody browses publishes nothing of its own.
const (
	PulseChannel = "demo:pulse"
	PulseEvery   = 5 * time.Second
)

// Pulse is the data of a "pulse" event.
type Pulse struct {
	SSE int `json:"sse"` // open SSE connections
	WS  int `json:"ws"`  // open WebSocket connections
}

// Live returns the open connections, for first paint.
func (d *Demo) Live() Pulse {
	sse, ws := d.conns.counts()
	return Pulse{SSE: sse, WS: ws}
}

// serveLive: GET /demo/live → the open connections, as a pulse carries them.
func (d *Demo) serveLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.Live())
}

func (d *Demo) runPulse(ctx context.Context) {
	tick(ctx, PulseEvery, func(now time.Time) {
		if !d.pulse.held(now) {
			return
		}
		if _, err := d.publishJSON(ctx, PulseChannel, "pulse", d.Live()); err != nil && ctx.Err() == nil {
			d.log.Warn("duet/demo: pulse", "err", err)
		}
	})
}

// servePulseWatch: POST /demo/pulse/watch keeps the pulse going.
func (d *Demo) servePulseWatch(w http.ResponseWriter, r *http.Request) {
	d.pulse.renew(time.Now())
	writeJSON(w, http.StatusOK, map[string]int64{"everyMs": PulseEvery.Milliseconds()})
}
