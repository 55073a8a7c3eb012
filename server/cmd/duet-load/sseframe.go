package main

import (
	"bufio"
	"bytes"
	"errors"
)

// sseEvent is one dispatched Server-Sent Events block. Its slices are valid
// until the next call of sseReader.Next.
type sseEvent struct {
	Event   []byte // the event field, empty when absent
	Data    []byte // data lines joined by '\n'
	ID      []byte // the id field of this block, when HasID
	HasID   bool
	Comment bool // the block held comments only (a heartbeat)
}

// sseBlock applies the WHATWG line rules that matter to a load generator
// to one line at a time: LF or CRLF line ends, comments, the data, event and
// id fields, "field:value" with an optional space. Both SSE readers (the
// goroutine per connection one and the epoll one) use it. It allocates only
// when an event has several data lines or grows its buffers.
type sseBlock struct {
	data, event, id []byte
	hasData, hasID  bool
	comment         bool
}

// line takes one line (with or without its line end) and returns the event
// a blank line dispatches, with ok. Blocks with no field and no comment
// (stray blank lines) dispatch nothing. The event's slices are valid until
// the next call.
func (b *sseBlock) line(l []byte) (ev sseEvent, ok bool) {
	l = bytes.TrimSuffix(l, []byte{'\n'})
	l = bytes.TrimSuffix(l, []byte{'\r'})
	if len(l) == 0 {
		switch {
		case b.hasData || len(b.event) > 0 || b.hasID:
			ev = sseEvent{Event: b.event, Data: b.data, ID: b.id, HasID: b.hasID}
		case b.comment:
			ev = sseEvent{Comment: true}
		default:
			return sseEvent{}, false
		}
		b.data, b.event, b.id = b.data[:0], b.event[:0], b.id[:0]
		b.hasData, b.hasID, b.comment = false, false, false
		return ev, true
	}
	if l[0] == ':' {
		b.comment = true
		return sseEvent{}, false
	}
	field, value := l, []byte(nil)
	if i := bytes.IndexByte(l, ':'); i >= 0 {
		field, value = l[:i], l[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if b.hasData {
			b.data = append(b.data, '\n')
		}
		b.data = append(b.data, value...)
		b.hasData = true
	case "event":
		b.event = append(b.event[:0], value...)
	case "id":
		b.id = append(b.id[:0], value...)
		b.hasID = true
	}
	return sseEvent{}, false
}

// sseReader reads an event stream from a bufio.Reader, a line at a time.
type sseReader struct {
	br   *bufio.Reader
	long []byte // a line longer than br's buffer
	blk  sseBlock
}

// errSSELineTooLong is returned for a line over maxSSELine bytes.
var errSSELineTooLong = errors.New("duet-load: SSE line over 1 MiB")

const maxSSELine = 1 << 20

func newSSEReader(br *bufio.Reader) *sseReader { return &sseReader{br: br} }

func (r *sseReader) line() ([]byte, error) {
	l, err := r.br.ReadSlice('\n')
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	r.long = append(r.long[:0], l...)
	for {
		l, err = r.br.ReadSlice('\n')
		r.long = append(r.long, l...)
		if len(r.long) > maxSSELine {
			return nil, errSSELineTooLong
		}
		if err == nil {
			return r.long, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// Next reads up to the next blank line and returns the block it ended.
func (r *sseReader) Next() (sseEvent, error) {
	for {
		l, err := r.line()
		if err != nil {
			return sseEvent{}, err
		}
		if ev, ok := r.blk.line(l); ok {
			return ev, nil
		}
	}
}
