package demo

import (
	"context"
	"net/http"
	"time"
)

// The lab's stream: LabRate messages a second on LabChannel while a lab
// page watches, each numbered so a page can count lost and doubled ones.
const (
	LabChannel = "lab:stream"
	LabRate    = 20
)

type labStream struct {
	n     int64 // the last message's number; only runLab touches it
	lease lease
}

// LabTick is the data of a lab "tick" event.
type LabTick struct {
	N int64 `json:"n"`
}

func (d *Demo) runLab(ctx context.Context) {
	tick(ctx, time.Second/LabRate, func(now time.Time) {
		if !d.lab.lease.held(now) {
			return
		}
		d.lab.n++
		if _, err := d.publishJSON(ctx, LabChannel, "tick", LabTick{N: d.lab.n}); err != nil && ctx.Err() == nil {
			d.log.Warn("duet/demo: lab", "err", err)
		}
	})
}

// labRequest is the body of the lab's POSTs.
type labRequest struct {
	Page  string `json:"page"`
	Block bool   `json:"block"`
}

func readLab(w http.ResponseWriter, r *http.Request) (labRequest, bool) {
	var req labRequest
	if !readJSON(w, r, &req) {
		return req, false
	}
	if !pageIDPattern.MatchString(req.Page) {
		writeError(w, http.StatusBadRequest, "page must be the page's id (8–64 letters, digits, - or _)")
		return req, false
	}
	return req, true
}

// serveLabWatch: POST /demo/lab/watch keeps the lab stream running.
func (d *Demo) serveLabWatch(w http.ResponseWriter, r *http.Request) {
	d.lab.lease.renew(time.Now())
	writeJSON(w, http.StatusOK, map[string]int{"rate": LabRate})
}

// serveLabDrop: POST /demo/lab/drop {"page"} drops the page's connections
// with no word, as a network failure would.
func (d *Demo) serveLabDrop(w http.ResponseWriter, r *http.Request) {
	req, ok := readLab(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"ended": d.conns.drop(req.Page)})
}

// serveLabRestart: POST /demo/lab/restart {"page"} ends the page's
// connections the way a restarting server does: "reconnect" (4002).
func (d *Demo) serveLabRestart(w http.ResponseWriter, r *http.Request) {
	req, ok := readLab(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"ended": d.conns.restart(req.Page)})
}

// serveLabBlock: POST /demo/lab/block {"page","block":true|false} refuses
// or allows the page's WebSocket upgrades; blocking also drops its open
// connections so that they reconnect into the block.
func (d *Demo) serveLabBlock(w http.ResponseWriter, r *http.Request) {
	req, ok := readLab(w, r)
	if !ok {
		return
	}
	if err := d.conns.block(req.Page, req.Block, time.Now()); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	ended := 0
	if req.Block {
		ended = d.conns.drop(req.Page)
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocked": req.Block, "ended": ended})
}
