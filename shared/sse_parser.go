package shared

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// The limits an [SSEParser] enforces. Feed returns one of them, unwrapped,
// and then refuses further input until End or Reset.
var (
	ErrSSELineTooLong   = errors.New("duet/shared: sse line longer than MaxLineBytes")
	ErrSSEEventTooLarge = errors.New("duet/shared: sse event data larger than MaxEventBytes")
)

// SSEEvent is one event dispatched by an [SSEParser], with the fields a
// browser's MessageEvent carries.
type SSEEvent struct {
	Type        string // "message" unless an event field set another
	Data        string // the data lines joined with LF
	LastEventID string // the last event ID string at dispatch
}

// SSEParser interprets a server-sent events stream exactly as the WHATWG HTML
// standard's "Interpreting an event stream" section does, UTF-8 decoding
// included, however the stream is cut into chunks.
//
// The zero value is ready for a new stream with an empty last event ID.
// Callbacks run synchronously inside Feed and must not call back into the
// parser. A parser is not safe for concurrent use.
type SSEParser struct {
	// OnEvent is called for each dispatched event. May be nil.
	OnEvent func(SSEEvent)
	// OnRetry is called with the reconnection time, in milliseconds, for each
	// retry field whose value is one or more ASCII digits. Values too large
	// for an int64 are clamped to the largest int64. May be nil.
	OnRetry func(ms int64)
	// OnComment is called for each comment line with the text after the
	// colon, leading space included. May be nil.
	OnComment func(text string)

	// MaxLineBytes bounds the length of a line, UTF-8 decoded and without
	// its line ending. Zero means no limit; otherwise exceeding it makes
	// Feed return ErrSSELineTooLong.
	MaxLineBytes int
	// MaxEventBytes bounds the length of an event's data. Zero means no
	// limit; otherwise exceeding it makes Feed return ErrSSEEventTooLarge.
	// With both limits set, a stream cannot make the parser buffer more than
	// about MaxLineBytes+MaxEventBytes bytes.
	MaxEventBytes int

	dec      sseDecoder
	bomSeen  int    // how many of the stream's first bytes match the BOM so far
	started  bool   // the BOM, if any, is behind us
	afterCR  bool   // the last line ended in CR, so an LF next is part of it
	line     []byte // the decoded start of an unfinished line
	data     []byte // the data buffer
	typ      []byte // the event type buffer
	lastType string // the Type of the last event, reused to save allocations
	idBuf    string // the last event ID buffer
	lastID   string // the last event ID string
	err      error  // the limit that stopped the parser
}

const (
	sseBOM      = "\xEF\xBB\xBF"
	sseReplaced = "\uFFFD"
	sseMaxRetry = 1<<63 - 1
)

// Feed parses the next chunk of the stream, calling the callbacks for what
// it completes. Chunks may be cut anywhere, even inside a line ending or a
// UTF-8 sequence. Feed keeps no reference to chunk.
//
// Feed returns ErrSSELineTooLong or ErrSSEEventTooLarge when the stream
// exceeds a limit; it has then delivered every event before the offending
// line and returns the same error until End or Reset.
func (p *SSEParser) Feed(chunk []byte) error {
	if p.err != nil {
		return p.err
	}
	if !p.started {
		chunk = p.skipBOM(chunk)
	}
	p.feed(chunk)
	return p.err
}

// skipBOM holds back the stream's first bytes until it knows whether they
// are a byte order mark, which is dropped, and returns the rest of chunk.
func (p *SSEParser) skipBOM(chunk []byte) []byte {
	for len(chunk) > 0 {
		if chunk[0] != sseBOM[p.bomSeen] {
			p.started = true
			held := []byte(sseBOM)
			p.feed(held[:p.bomSeen])
			return chunk
		}
		chunk = chunk[1:]
		if p.bomSeen++; p.bomSeen == len(sseBOM) {
			p.started = true
			return chunk
		}
	}
	return chunk
}

// feed splits b into lines. Line endings are ASCII, so they can be found in
// the raw bytes: a UTF-8 decoder never makes one part of a longer sequence.
func (p *SSEParser) feed(b []byte) {
	cr, lf := -1, -1 // the next CR and LF in b, len(b) if none; -1: not looked yet
	for start := 0; start < len(b) && p.err == nil; {
		if p.afterCR {
			p.afterCR = false
			if b[start] == '\n' {
				start++
				continue
			}
		}
		if cr < start {
			cr = sseIndexFrom(b, start, '\r')
		}
		if lf < start {
			lf = sseIndexFrom(b, start, '\n')
		}
		end := min(cr, lf)
		if end == len(b) {
			p.line = p.dec.decode(p.line, b[start:])
			p.lineTooLong(len(p.line))
			return
		}
		seg := b[start:end]
		if len(p.line) == 0 && p.dec.idle() && utf8.Valid(seg) {
			p.processLine(seg)
		} else {
			p.line = p.dec.decode(p.line, seg)
			// The line ending cuts short any unfinished sequence.
			p.line = p.dec.flush(p.line)
			p.processLine(p.line)
			p.line = p.line[:0]
		}
		p.afterCR = b[end] == '\r'
		start = end + 1
	}
}

// sseIndexFrom returns the index of the first c in b at or after from, or
// len(b) if there is none.
func sseIndexFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}

// lineTooLong stops the parser if a line of n bytes breaks MaxLineBytes.
func (p *SSEParser) lineTooLong(n int) bool {
	if p.MaxLineBytes > 0 && n > p.MaxLineBytes {
		p.err = ErrSSELineTooLong
	}
	return p.err != nil
}

// processLine interprets one complete, decoded line.
func (p *SSEParser) processLine(line []byte) {
	if p.lineTooLong(len(line)) {
		return
	}
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if line[0] == ':' {
		if p.OnComment != nil {
			p.OnComment(string(line[1:]))
		}
		return
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		if p.MaxEventBytes > 0 && len(p.data)+len(value) > p.MaxEventBytes {
			p.err = ErrSSEEventTooLarge
			return
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.idBuf {
			p.idBuf = string(value)
		}
	case "retry":
		if ms, ok := sseParseRetry(value); ok && p.OnRetry != nil {
			p.OnRetry(ms)
		}
	}
}

// dispatch ends an event on an empty line. The last event ID string is set
// even when there is no event to dispatch.
func (p *SSEParser) dispatch() {
	p.lastID = p.idBuf
	if len(p.data) == 0 {
		p.typ = p.typ[:0]
		return
	}
	ev := SSEEvent{
		Type:        "message",
		Data:        string(p.data[:len(p.data)-1]),
		LastEventID: p.lastID,
	}
	if len(p.typ) > 0 {
		if string(p.typ) != p.lastType {
			p.lastType = string(p.typ)
		}
		ev.Type = p.lastType
	}
	p.data = p.data[:0]
	p.typ = p.typ[:0]
	if p.OnEvent != nil {
		p.OnEvent(ev)
	}
}

// sseParseRetry reports whether v is a valid retry value, one or more ASCII
// digits, and its value clamped to the int64 range.
func sseParseRetry(v []byte) (int64, bool) {
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (sseMaxRetry-d)/10 {
			n = sseMaxRetry
		} else {
			n = n*10 + d
		}
	}
	return n, len(v) > 0
}

// End ends the stream. Per the standard, an event not yet ended by an empty
// line is discarded, as is an unfinished line. The parser is then ready for
// a new stream, such as a reconnection, keeping LastEventID.
func (p *SSEParser) End() {
	// The decoder is not flushed: the U+FFFD it would make for a truncated
	// sequence would only go into the unfinished line.
	p.Reset(p.lastID)
}

// LastEventID returns the last event ID string: the id in force at the
// most recent empty line, which a reconnection sends as Last-Event-ID.
func (p *SSEParser) LastEventID() string {
	return p.lastID
}

// Reset prepares the parser for a new stream, a reconnection say, whose
// last event ID buffer and string start as lastEventID. It keeps the
// callbacks and limits and clears a limit error.
func (p *SSEParser) Reset(lastEventID string) {
	p.dec = sseDecoder{}
	p.bomSeen = 0
	p.started = false
	p.afterCR = false
	p.line = p.line[:0]
	p.data = p.data[:0]
	p.typ = p.typ[:0]
	p.idBuf = lastEventID
	p.lastID = lastEventID
	p.err = nil
}

// sseDecoder is the WHATWG Encoding standard's UTF-8 decoder, made to work on
// chunks. Unlike utf8.DecodeRune, which replaces each invalid byte, it
// replaces each maximal subpart of an ill-formed sequence with one U+FFFD:
// "\xE2\x82A" becomes "\uFFFDA", not "\uFFFD\uFFFDA".
type sseDecoder struct {
	seq          [3]byte // the start of an unfinished sequence
	seen         int     // bytes in seq
	needed       int     // continuation bytes still needed
	lower, upper byte    // the range of the next continuation byte
}

func (d *sseDecoder) idle() bool { return d.needed == 0 }

// decode appends the decoding of src to dst. An unfinished sequence at the
// end of src is kept for the next call.
func (d *sseDecoder) decode(dst, src []byte) []byte {
	for len(src) > 0 {
		if d.needed == 0 {
			n := sseValidPrefix(src)
			dst = append(dst, src[:n]...)
			if src = src[n:]; len(src) == 0 {
				break
			}
			if !d.start(src[0]) {
				dst = append(dst, sseReplaced...)
			}
			src = src[1:]
			continue
		}
		c := src[0]
		if c < d.lower || c > d.upper {
			// c ends the sequence early and starts afresh: not consumed.
			d.needed = 0
			dst = append(dst, sseReplaced...)
			continue
		}
		src = src[1:]
		d.lower, d.upper = 0x80, 0xBF
		if d.needed--; d.needed == 0 {
			dst = append(dst, d.seq[:d.seen]...)
			dst = append(dst, c)
			continue
		}
		d.seq[d.seen] = c
		d.seen++
	}
	return dst
}

// start begins a sequence with the lead byte c, or reports that c cannot
// start one.
func (d *sseDecoder) start(c byte) bool {
	d.lower, d.upper = 0x80, 0xBF
	switch {
	case 0xC2 <= c && c <= 0xDF:
		d.needed = 1
	case 0xE0 <= c && c <= 0xEF:
		if c == 0xE0 {
			d.lower = 0xA0
		} else if c == 0xED {
			d.upper = 0x9F
		}
		d.needed = 2
	case 0xF0 <= c && c <= 0xF4:
		if c == 0xF0 {
			d.lower = 0x90
		} else if c == 0xF4 {
			d.upper = 0x8F
		}
		d.needed = 3
	default:
		return false
	}
	d.seq[0] = c
	d.seen = 1
	return true
}

// flush ends the input: an unfinished sequence becomes one U+FFFD.
func (d *sseDecoder) flush(dst []byte) []byte {
	if d.needed != 0 {
		d.needed = 0
		dst = append(dst, sseReplaced...)
	}
	return dst
}

// sseValidPrefix returns the length of the longest prefix of s that is valid
// UTF-8, stopping before an invalid or unfinished sequence. Go and WHATWG
// agree on which sequences are valid; they differ only in replacing the
// others.
func sseValidPrefix(s []byte) int {
	if utf8.Valid(s) {
		return len(s)
	}
	i := 0
	for i < len(s) {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return i
}
