package server

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
)

// What both wires share: parsing a client's channels and resume id, the
// hello and gap frames, pooled write buffers and write deadlines.

// parseChannels validates a connection's requested channels: each name,
// duplicates removed, at least one, at most max in all (have counts those
// the connection already holds).
func parseChannels(names []string, have, limit int) ([]string, error) {
	if len(names) == 0 {
		return nil, shared.NewError(shared.CodeBadChannel, "no channel given: name at least one")
	}
	if have+len(names) > limit*2 { // refuse huge requests before looking at them
		return nil, shared.NewError(shared.CodeTooManyChannels, "too many channels: the limit is "+strconv.Itoa(limit)+" per connection")
	}
	seen := make(map[string]struct{}, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := shared.ValidateChannel(n); err != nil {
			return nil, err
		}
		if _, dup := seen[n]; dup {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	if have+len(out) > limit {
		return nil, shared.NewError(shared.CodeTooManyChannels, "too many channels: the limit is "+strconv.Itoa(limit)+" per connection")
	}
	return out, nil
}

// parseResumeID parses a client's lastEventId; "" means "no resume".
func parseResumeID(s string) (shared.ID, error) {
	if s == "" {
		return shared.ID{}, nil
	}
	id, err := shared.ParseID(s)
	if err != nil {
		return shared.ID{}, shared.NewError(shared.CodeBadID, err.Error())
	}
	return id, nil
}

// gapFrame is the gap notice of g, answering the subscribe ref.
func gapFrame(g *Gap, ref string) shared.Frame {
	return shared.Frame{
		Type:        shared.TypeGap,
		Ref:         ref,
		Channels:    g.Channels,
		LastEventID: g.LastEventID.String(),
		ID:          g.ID.String(),
		Reason:      g.Reason,
	}
}

// helloFrame is the first frame of every connection: the limits a client
// must know.
func (h *Hub) helloFrame(c *conn) []byte {
	f := shared.Frame{
		Type:          shared.TypeHello,
		Client:        c.id,
		Heartbeat:     h.cfg.Heartbeat.Milliseconds(),
		MaxFrameBytes: h.cfg.MaxFrameBytes,
		MaxChannels:   int64(h.cfg.MaxChannels),
	}
	return shared.AppendFrame(nil, &f)
}

// writeBufs pools the batch buffers of SSE and WebSocket writers, so an idle
// connection holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// putWriteBuf returns buf, taken from writeBufs as bp, unless it grew huge.
func putWriteBuf(bp *[]byte, buf []byte) {
	*bp = buf[:0]
	if cap(buf) <= 256<<10 {
		writeBufs.Put(bp)
	}
}

// gather is what a connection's writer does before each take from ob:
// with Config.WriteDelay set, wait until that long after ob's last write,
// so that what arrives meanwhile goes out in one write. A connection
// written to less often does not wait (and costs no timer).
func (h *Hub) gather(ob *outbox) {
	d := h.cfg.WriteDelay
	if d <= 0 {
		return
	}
	if wait := time.Duration(ob.lastWrite.Load() + int64(d) - time.Now().UnixNano()); wait > 0 {
		time.Sleep(wait)
	}
}

// errSlowConsumer ends a connection whose client fell behind.
var errSlowConsumer = errors.New("duet/server: slow consumer disconnected")

// errReplayCut ends a connection whose resume replayed as much as it may
// at once (Resume.Continue): the client resumes on a new one.
var errReplayCut = errors.New("duet/server: replay limit reached")

// replayCutReason is what a client whose replay was cut short at id is told.
func replayCutReason(id shared.ID) string {
	return "replay limit reached: reconnect and resume from " + id.String()
}

// writeDeadline keeps a connection's write deadline at least timeout ahead
// of every write, and moves it only when it falls short, by timeout/16
// more: a write may take between timeout and 17/16 of it. Setting a
// deadline updates a runtime timer, too much to pay around every batch.
// The caller serialises arm.
type writeDeadline struct{ at int64 } // Unix nanoseconds; 0: none set

func (d *writeDeadline) arm(nc net.Conn, timeout time.Duration) {
	if at, ok := d.next(timeout); ok {
		_ = nc.SetWriteDeadline(at)
	}
}

// next returns the deadline to set before a write, and false when the one
// set is still far enough ahead.
func (d *writeDeadline) next(timeout time.Duration) (time.Time, bool) {
	now := time.Now().UnixNano()
	if d.at-now >= int64(timeout) {
		return time.Time{}, false
	}
	d.at = now + int64(timeout) + int64(timeout/16)
	return time.Unix(0, d.at), true
}
