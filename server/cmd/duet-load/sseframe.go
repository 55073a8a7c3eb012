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

// sseReader reads an event stream with the WHATWG line rules that matter to
// a load generator: LF or CRLF line ends, comments, the data, event and id
// fields, "field:value" with an optional space. It allocates only when a
// line outgrows its buffer or an event has several data lines.
type sseReader struct {
	br    *bufio.Reader
	long  []byte // a line longer than br's buffer
	data  []byte
	event []byte
	id    []byte
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
// Blocks with no field and no comment (stray blank lines) are skipped.
func (r *sseReader) Next() (sseEvent, error) {
	r.data, r.event, r.id = r.data[:0], r.event[:0], r.id[:0]
	var ev sseEvent
	hasData, comment := false, false
	for {
		l, err := r.line()
		if err != nil {
			return sseEvent{}, err
		}
		l = bytes.TrimSuffix(l, []byte{'\n'})
		l = bytes.TrimSuffix(l, []byte{'\r'})
		if len(l) == 0 {
			if hasData || len(r.event) > 0 || ev.HasID {
				ev.Event, ev.Data, ev.ID = r.event, r.data, r.id
				return ev, nil
			}
			if comment {
				return sseEvent{Comment: true}, nil
			}
			continue
		}
		if l[0] == ':' {
			comment = true
			continue
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
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.event = append(r.event[:0], value...)
		case "id":
			r.id = append(r.id[:0], value...)
			ev.HasID = true
		}
	}
}
