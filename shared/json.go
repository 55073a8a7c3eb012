package shared

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// A small JSON scanner for frames and envelopes: it validates any value and
// decodes the few kinds a frame holds. encoding/json would cost the
// browser module a third of a megabyte and the server an allocation-heavy,
// reflection-driven hot path; frames are flat objects with a fixed set of
// keys, so a hand-written scanner is short, fast and easy to fuzz.

// ErrBadJSON is wrapped by every decoding error.
var ErrBadJSON = errors.New("duet/shared: malformed JSON")

// maxDepth bounds the nesting of "data" values so a hostile frame cannot
// exhaust the stack.
const maxDepth = 128

type jsonError struct {
	msg string
	off int
}

func (e *jsonError) Error() string {
	return ErrBadJSON.Error() + ": " + e.msg + " at offset " + strconv.Itoa(e.off)
}
func (e *jsonError) Unwrap() error { return ErrBadJSON }

type decoder struct {
	p   []byte
	i   int
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = &jsonError{msg: msg, off: d.i}
	}
	d.i = len(d.p)
}

func (d *decoder) ws() {
	for d.i < len(d.p) {
		switch d.p[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte without consuming it, or 0
// at the end.
func (d *decoder) next() byte {
	d.ws()
	if d.i < len(d.p) {
		return d.p[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) {
	if d.next() != c {
		d.fail("expected " + strconv.QuoteRune(rune(c)))
		return
	}
	d.i++
}

// object calls field for each key of an object; field must consume the value.
func (d *decoder) object(field func(key string)) {
	d.expect('{')
	if d.next() == '}' {
		d.i++
		return
	}
	for d.err == nil {
		key := d.str()
		d.expect(':')
		if d.err != nil {
			return
		}
		field(key)
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return
		default:
			d.fail("expected ',' or '}'")
		}
	}
}

// str decodes a JSON string.
func (d *decoder) str() string {
	if d.next() != '"' {
		d.fail("expected a string")
		return ""
	}
	d.i++
	start := d.i
	// Fast path: no escapes, valid UTF-8.
	for d.i < len(d.p) {
		c := d.p[d.i]
		if c == '"' {
			s := d.p[start:d.i]
			d.i++
			if utf8.Valid(s) {
				return string(s)
			}
			return string([]rune(string(s))) // invalid UTF-8 becomes U+FFFD, as encoding/json does
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	buf := append([]byte(nil), d.p[start:d.i]...)
	for d.i < len(d.p) {
		c := d.p[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(buf) {
				return string([]rune(string(buf)))
			}
			return string(buf)
		case c < 0x20:
			d.fail("control character in string")
			return ""
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		d.i++
		if d.i >= len(d.p) {
			break
		}
		e := d.p[d.i]
		d.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := d.hex4()
			if utf16IsHighSurrogate(r) {
				if d.i+1 < len(d.p) && d.p[d.i] == '\\' && d.p[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					r2 := d.hex4()
					if utf16IsLowSurrogate(r2) {
						r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					} else {
						d.i = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			} else if utf16IsLowSurrogate(r) {
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.fail("bad escape in string")
			return ""
		}
	}
	d.fail("unterminated string")
	return ""
}

func utf16IsHighSurrogate(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func utf16IsLowSurrogate(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }

func (d *decoder) hex4() rune {
	if d.i+4 > len(d.p) {
		d.fail("short \\u escape")
		return 0
	}
	var r rune
	for _, c := range d.p[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			d.fail("bad \\u escape")
			return 0
		}
	}
	d.i += 4
	return r
}

// int decodes an integer that fits an int64. Fractions and exponents are
// refused: every number in a frame is a count or a time.
func (d *decoder) int() int64 {
	d.ws()
	start := d.i
	if d.i < len(d.p) && d.p[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.p) && d.p[d.i] >= '0' && d.p[d.i] <= '9' {
		d.i++
	}
	// JSON has no leading zeros, which ParseInt would take ("01"); and a
	// fraction or exponent is named here, where the number is, rather than
	// failing later as a puzzling "expected ',' or '}'".
	leadingZero := d.i-digits > 1 && d.p[digits] == '0'
	fraction := d.i < len(d.p) && (d.p[d.i] == '.' || d.p[d.i] == 'e' || d.p[d.i] == 'E')
	n, err := strconv.ParseInt(string(d.p[start:d.i]), 10, 64)
	if err != nil || leadingZero || fraction {
		d.i = start
		d.fail("expected an integer")
		return 0
	}
	return n
}

// strings decodes an array of strings; null gives nil.
func (d *decoder) strings() []string {
	if d.null() {
		return nil
	}
	out := []string{}
	d.array(func() { out = append(out, d.str()) })
	if d.err != nil {
		return nil
	}
	return out
}

// array decodes a JSON array, calling elem to decode each element.
func (d *decoder) array(elem func()) {
	d.expect('[')
	if d.next() == ']' {
		d.i++
		return
	}
	for d.err == nil {
		elem()
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return
		default:
			d.fail("expected ',' or ']'")
		}
	}
}

func (d *decoder) null() bool {
	if d.next() == 'n' && d.literal("null") {
		return true
	}
	return false
}

func (d *decoder) literal(lit string) bool {
	if len(d.p)-d.i >= len(lit) && string(d.p[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// raw validates any JSON value and returns its bytes.
func (d *decoder) raw() []byte { return d.rawAt(0) }

// rawAt is raw for a value inside depth containers.
func (d *decoder) rawAt(depth int) []byte {
	d.ws()
	start := d.i
	d.skip(depth)
	if d.err != nil {
		return nil
	}
	return d.p[start:d.i]
}

func (d *decoder) skip(depth int) {
	switch c := d.next(); {
	case (c == '{' || c == '[') && depth >= maxDepth:
		// The limit counts containers, so it is checked where one opens:
		// checked on every value, 129 nested arrays would pass when the
		// innermost one is empty.
		d.fail("nesting too deep")
	case c == '{':
		// Keys are validated as strings like values are, not decoded with
		// str: that would let invalid UTF-8 through into raw data (and
		// allocate each key).
		d.i++
		if d.next() == '}' {
			d.i++
			return
		}
		for d.err == nil {
			if d.next() != '"' {
				d.fail("expected a string")
				return
			}
			d.skipString()
			d.expect(':')
			d.skip(depth + 1)
			switch d.next() {
			case ',':
				d.i++
			case '}':
				d.i++
				return
			default:
				d.fail("expected ',' or '}'")
			}
		}
	case c == '[':
		d.i++
		if d.next() == ']' {
			d.i++
			return
		}
		for d.err == nil {
			d.skip(depth + 1)
			switch d.next() {
			case ',':
				d.i++
			case ']':
				d.i++
				return
			default:
				d.fail("expected ',' or ']'")
			}
		}
	case c == '"':
		d.skipString()
	case c == 't':
		if !d.literal("true") {
			d.fail("bad literal")
		}
	case c == 'f':
		if !d.literal("false") {
			d.fail("bad literal")
		}
	case c == 'n':
		if !d.literal("null") {
			d.fail("bad literal")
		}
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	default:
		d.fail("expected a value")
	}
}

// skipString validates a string without decoding it.
func (d *decoder) skipString() {
	d.i++ // opening quote
	for d.i < len(d.p) {
		c := d.p[d.i]
		switch {
		case c == '"':
			d.i++
			return
		case c < 0x20:
			d.fail("control character in string")
			return
		case c == '\\':
			d.i++
			if d.i >= len(d.p) {
				break
			}
			switch d.p[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				d.i++
				d.hex4()
			default:
				d.fail("bad escape in string")
				return
			}
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, size := utf8.DecodeRune(d.p[d.i:])
			if r == utf8.RuneError && size == 1 {
				d.fail("invalid UTF-8 in string")
				return
			}
			d.i += size
		}
	}
	d.fail("unterminated string")
}

// number validates a JSON number (RFC 8259 grammar).
func (d *decoder) number() {
	p := d.p
	if d.i < len(p) && p[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(p) && p[d.i] == '0':
		d.i++
	case d.i < len(p) && p[d.i] >= '1' && p[d.i] <= '9':
		for d.i < len(p) && p[d.i] >= '0' && p[d.i] <= '9' {
			d.i++
		}
	default:
		d.fail("bad number")
		return
	}
	if d.i < len(p) && p[d.i] == '.' {
		d.i++
		if d.i >= len(p) || p[d.i] < '0' || p[d.i] > '9' {
			d.fail("bad number")
			return
		}
		for d.i < len(p) && p[d.i] >= '0' && p[d.i] <= '9' {
			d.i++
		}
	}
	if d.i < len(p) && (p[d.i] == 'e' || p[d.i] == 'E') {
		d.i++
		if d.i < len(p) && (p[d.i] == '+' || p[d.i] == '-') {
			d.i++
		}
		if d.i >= len(p) || p[d.i] < '0' || p[d.i] > '9' {
			d.fail("bad number")
			return
		}
		for d.i < len(p) && p[d.i] >= '0' && p[d.i] <= '9' {
			d.i++
		}
	}
}

func (d *decoder) end() error {
	// Compare the position, not next() != 0: next returns 0 for a NUL byte
	// too, and "1\x00<anything>" would pass as valid.
	if d.ws(); d.err == nil && d.i < len(d.p) {
		d.fail("trailing data after the value")
	}
	return d.err
}

// ValidJSON reports whether p is exactly one JSON value (surrounding
// whitespace allowed), nested at most 128 deep.
func ValidJSON(p []byte) bool {
	d := decoder{p: p}
	d.skip(0)
	return d.end() == nil
}
