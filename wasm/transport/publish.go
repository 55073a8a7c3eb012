package transport

import (
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// publication is one Publish call.
type publication struct {
	ref     string
	channel string
	event   string
	data    []byte
	binary  bool // data is bytes, not JSON
	// key is the publish's idempotency key, the same on every send: the
	// server stores a resent publish once and acks it with the first id.
	key     string
	done    func(id string, err error)
	timer   Timer
	settled bool
	// For a Client's follower publishes: the order of the calls, and
	// whether it went to a leader.
	seq  int
	sent bool
	// refreshed: a POST was refused with 4401, credentials were refreshed
	// and the publish sent again; a second 4401 fails it.
	refreshed bool
}

// Errors a publish can fail with, besides the server's own.
var (
	errConnClosed  = shared.NewError(shared.CodeNormal, "duet/transport: the connection is closed")
	errLostAck     = shared.NewError(shared.CodeAbnormal, "duet/transport: the connection dropped before the server acknowledged the publish; it may or may not have been published")
	errQueueFull   = shared.NewError(shared.CodeTryAgainLater, "duet/transport: too many publishes waiting for a connection")
	errPubTimeout  = shared.NewError(shared.CodeTryAgainLater, "duet/transport: no acknowledgement from the server in time; the publish may or may not have happened")
	errBadDataJSON = shared.NewError(shared.CodeBadRequest, "duet/transport: publish data is not valid JSON")
)

// Publish publishes data (a JSON value; nil means null) with event ("" for
// "message") on channel and calls done once: with the message's id when the
// server has stored it, or with an error (a *shared.Error carrying the
// server's code, or one of this package's for a publish that could not be
// sent or whose ack was lost). On a WebSocket it is a publish frame; on SSE,
// a POST. While no connection is up it waits, up to PublishTimeout.
func (c *Conn) Publish(channel, event string, data []byte, done func(id string, err error)) {
	c.publish(channel, event, data, false, done)
}

// PublishBinary publishes data, raw bytes, like [Conn.Publish]. The Conn
// keeps data until done is called; the caller must not modify it.
func (c *Conn) PublishBinary(channel, event string, data []byte, done func(id string, err error)) {
	c.publish(channel, event, data, true, done)
}

func (c *Conn) publish(channel, event string, data []byte, binary bool, done func(id string, err error)) {
	c.lock()
	defer c.unlock()
	data, err := checkPublish(channel, event, data, binary)
	if err != nil {
		c.later(func() { done("", err) })
		return
	}
	c.publishLocked(&publication{channel: channel, event: event, data: data, binary: binary, key: newPublishKey(), done: done})
}

// checkPublish validates a publish of a Conn or a Client and returns the
// data to send: null for none, unless binary.
func checkPublish(channel, event string, data []byte, binary bool) ([]byte, error) {
	if err := shared.ValidateChannel(channel); err != nil {
		return nil, err
	}
	if err := shared.ValidateEvent(event); err != nil {
		return nil, err
	}
	if !binary && len(data) > 0 && !shared.ValidJSON(data) {
		return nil, errBadDataJSON
	}
	if len(data) == 0 && !binary {
		data = []byte("null")
	}
	return data, nil
}

// publishLocked starts p: with the timeout, in the queue or on the wire.
func (c *Conn) publishLocked(p *publication) {
	if c.state == StateClosed {
		c.settleLocked(p, "", errConnClosed)
		return
	}
	p.timer = c.clk.AfterFunc(c.cfg.PublishTimeout, func() {
		c.lock()
		defer c.unlock()
		c.settleLocked(p, "", errPubTimeout)
	})
	c.routeLocked(p)
}

// routeLocked sends p the way the current wire allows, or queues it.
func (c *Conn) routeLocked(p *publication) {
	a := c.cur
	switch {
	case c.cfg.Mode == ModeSSE || (a != nil && a.live && a.kind == KindSSE):
		c.postLocked(p)
	case a != nil && a.live && a.kind == KindWebSocket:
		p.ref = c.nextRef('p')
		var f []byte
		if p.binary {
			f = shared.AppendBinaryPublish(nil, p.ref, p.channel, p.event, p.data)
		} else {
			f = shared.AppendFrame(nil, &shared.Frame{Type: shared.TypePublish, Ref: p.ref, Channel: p.channel, Event: p.event, Data: p.data, IdempotencyKey: p.key})
		}
		if c.maxFrame > 0 && len(f) > c.maxFrame {
			c.settleLocked(p, "", shared.NewError(shared.CodeTooLarge, "duet/transport: the publish frame is "+
				strconv.Itoa(len(f))+" bytes, over the server's limit of "+strconv.Itoa(c.maxFrame)))
			return
		}
		c.pending[p.ref] = p
		c.sendRawLocked(a, f, p.binary)
	case len(c.queue) >= c.cfg.MaxQueue:
		c.settleLocked(p, "", errQueueFull)
	default:
		c.queue = append(c.queue, p)
	}
}

func (c *Conn) flushQueueLocked() {
	q := c.queue
	c.queue = nil
	for _, p := range q {
		if !p.settled {
			c.routeLocked(p)
		}
	}
}

func (c *Conn) postLocked(p *publication) {
	body := publishBody(p.channel, p.event, p.data, p.binary)
	url, d := c.ep.Publish, c.d
	c.later(func() {
		d.Post(url, body, p.key, func(status int, resp []byte, err error) {
			c.lock()
			defer c.unlock()
			switch {
			case err != nil:
				c.settleLocked(p, "", shared.NewError(shared.CodeAbnormal, "duet/transport: publish request failed: "+err.Error()))
			case status/100 == 2:
				id, ok := decodeIDBody(resp)
				if !ok {
					c.settleLocked(p, "", shared.NewError(shared.CodeBadRequest, "duet/transport: publish response has no id"))
					return
				}
				c.settleLocked(p, id, nil)
			default:
				e := CodeOfHTTP(status, resp)
				if e.Code.Action() == shared.ActionRefresh && !p.refreshed && !p.settled {
					// Refused before it was published: refresh, send again.
					p.refreshed = true
					c.later(func() { d.Refresh(func(error) { c.republish(p) }) })
					return
				}
				c.settleLocked(p, "", e)
			}
		})
	})
}

// newPublishKey returns a publish's idempotency key: 128 random bits
// (math/rand/v2's generator is seeded from the platform's random source).
func newPublishKey() string {
	b := strconv.AppendUint(make([]byte, 0, 26), rand.Uint64(), 36)
	b = append(b, '.')
	return string(strconv.AppendUint(b, rand.Uint64(), 36))
}

// lostAcksLocked handles the publishes sent on a WebSocket that dropped
// before their ack: a JSON publish goes back to the queue, to be sent again
// with its key on the next connection (the server stores it once, and its
// PublishTimeout still runs); a binary one, whose frame carries no key,
// fails with errLostAck, as does everything once the Conn is closed.
func (c *Conn) lostAcksLocked() {
	var again []*publication
	for _, p := range c.pending {
		if p.binary || p.key == "" || c.state == StateClosed {
			c.settleLocked(p, "", errLostAck)
			continue
		}
		delete(c.pending, p.ref)
		again = append(again, p)
	}
	// Sent in ref order ("p" and a counter): send them again in that order,
	// before what was queued after them. (An insertion sort: there are few,
	// and a generic sort costs the wasm build kilobytes.)
	for i := 1; i < len(again); i++ {
		for j := i; j > 0 && refBefore(again[j].ref, again[j-1].ref); j-- {
			again[j], again[j-1] = again[j-1], again[j]
		}
	}
	for _, p := range again {
		p.ref = ""
	}
	c.queue = append(again, c.queue...)
}

// refBefore reports whether ref a ("p" and a counter) was issued before b.
func refBefore(a, b string) bool { return len(a) < len(b) || len(a) == len(b) && a < b }

// republish sends p again once credentials were refreshed.
func (c *Conn) republish(p *publication) {
	c.lock()
	defer c.unlock()
	if p.settled {
		return
	}
	if c.state == StateClosed {
		c.settleLocked(p, "", errConnClosed)
		return
	}
	c.routeLocked(p)
}

// settleLocked calls p's done once.
func (c *Conn) settleLocked(p *publication, id string, err error) {
	if p.settled {
		return
	}
	p.settled = true
	stopTimer(&p.timer)
	if p.ref != "" {
		delete(c.pending, p.ref)
	}
	if i := slices.Index(c.queue, p); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	}
	done := p.done
	if done == nil {
		return
	}
	if err == nil {
		c.later(func() { done(id, nil) })
	} else {
		c.later(func() { done("", err) })
	}
}
