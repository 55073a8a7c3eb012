package shared

import (
	"encoding/base64"
	"errors"
	"strconv"
)

// Binary WebSocket frames (PROTOCOL.md §4.6). A binary WebSocket message is
// one protocol frame: a kind byte, length-prefixed header fields and the raw
// payload to the end of the message.
//
//	publish (client to server): 0x01 ref channel event payload…
//	message (server to client): 0x02 id channel event ts payload…
//
// Each string field is a uvarint byte length and the bytes; ts is a uvarint
// of Unix milliseconds. Replies (ack, error) stay JSON text frames.
const (
	BinaryPublish byte = 0x01
	BinaryMessage byte = 0x02
)

// EncodingBase64 is the value of the "encoding" field that marks binary data
// in JSON (an SSE envelope, a POST /rt/publish body, a JSON publish frame):
// "data" is then a string holding the bytes in standard base64.
const EncodingBase64 = "base64"

// maxBinaryHeaderField bounds each header string of a binary frame; the
// longest legal one (a channel name) is 128 bytes, refs are the client's.
const maxBinaryHeaderField = 256

// ErrBadBinary is wrapped by every binary frame decoding error.
var ErrBadBinary = errors.New("duet/shared: malformed binary frame")

type binaryError struct{ msg string }

func (e *binaryError) Error() string { return "duet/shared: malformed binary frame: " + e.msg }
func (e *binaryError) Unwrap() error { return ErrBadBinary }

// AppendBinaryPublish appends a binary publish frame to dst. It allocates
// nothing when dst has room.
func AppendBinaryPublish(dst []byte, ref, channel, event string, data []byte) []byte {
	dst = append(dst, BinaryPublish)
	dst = appendBinaryString(dst, ref)
	dst = appendBinaryString(dst, channel)
	dst = appendBinaryString(dst, event)
	return append(dst, data...)
}

// AppendBinaryMessage appends the binary message frame carrying e to dst. It
// allocates nothing when dst has room.
func AppendBinaryMessage(dst []byte, e *Envelope) []byte {
	dst = append(dst, BinaryMessage)
	dst = appendBinaryString(dst, e.ID)
	dst = appendBinaryString(dst, e.Channel)
	dst = appendBinaryString(dst, e.Event)
	dst = appendUvarint(dst, uint64(max(e.TS, 0)))
	return append(dst, e.Data...)
}

// BinaryFrameSize is the size of the binary frame AppendBinaryMessage writes
// for e, for sizing buffers.
func BinaryFrameSize(e *Envelope) int {
	n := 1 + uvarintLen(uint64(max(e.TS, 0))) + len(e.Data)
	for _, s := range [...]string{e.ID, e.Channel, e.Event} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

// DecodeBinaryFrame decodes one binary WebSocket message into a Frame of type
// publish or message with Binary set. Data aliases p; nothing else does. Like
// DecodeFrame it checks the encoding, not whether the names are valid.
func DecodeBinaryFrame(p []byte) (Frame, error) {
	if len(p) == 0 {
		return Frame{}, &binaryError{"empty message"}
	}
	r := binaryReader{p: p, i: 1}
	f := Frame{Binary: true}
	switch p[0] {
	case BinaryPublish:
		f.Type = TypePublish
		f.Ref = r.str("ref")
		f.Channel = r.str("channel")
		f.Event = r.str("event")
	case BinaryMessage:
		f.Type = TypeMessage
		f.ID = r.str("id")
		f.Channel = r.str("channel")
		f.Event = r.str("event")
		ts := r.uvarint("ts")
		if ts > 1<<62 {
			r.fail("ts out of range")
		}
		f.TS = int64(ts)
	default:
		return Frame{}, &binaryError{"unknown kind 0x" + strconv.FormatUint(uint64(p[0]), 16)}
	}
	if r.err != nil {
		return Frame{}, r.err
	}
	f.Data = p[r.i:len(p):len(p)]
	return f, nil
}

type binaryReader struct {
	p   []byte
	i   int
	err error
}

func (r *binaryReader) fail(msg string) {
	if r.err == nil {
		r.err = &binaryError{msg}
	}
}

func (r *binaryReader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if r.i >= len(r.p) {
			r.fail(field + " is cut short")
			return 0
		}
		b := r.p[r.i]
		r.i++
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v
		}
	}
	r.fail(field + " length overflows")
	return 0
}

func (r *binaryReader) str(field string) string {
	n := r.uvarint(field)
	if r.err != nil {
		return ""
	}
	if n > maxBinaryHeaderField {
		r.fail(field + " is longer than " + strconv.Itoa(maxBinaryHeaderField) + " bytes")
		return ""
	}
	if n > uint64(len(r.p)-r.i) {
		r.fail(field + " is cut short")
		return ""
	}
	s := string(r.p[r.i : r.i+int(n)])
	r.i += int(n)
	return s
}

func appendBinaryString(dst []byte, s string) []byte {
	dst = appendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendUvarint is encoding/binary's AppendUvarint, without importing that
// package (and reflect) into the wasm build.
func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decodeDataEncoding turns the raw JSON "data" of a frame or envelope whose
// "encoding" field was enc into its bytes: the raw JSON itself when there is
// no encoding, the decoded bytes of a base64 string for "base64".
func decodeDataEncoding(raw []byte, enc string) (data []byte, binary bool, err error) {
	switch enc {
	case "":
		return raw, false, nil
	case EncodingBase64:
		d := decoder{p: raw}
		s := d.str()
		if err := d.end(); err != nil {
			return nil, false, &jsonError{msg: `"data" of a base64 encoding must be a string`, off: 0}
		}
		out, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(s))), []byte(s))
		if err != nil {
			return nil, false, &jsonError{msg: `"data" is not valid base64: ` + err.Error(), off: 0}
		}
		return out, true, nil
	}
	return nil, false, &jsonError{msg: `unknown "encoding" ` + strconv.Quote(enc), off: 0}
}

// appendDataField appends the "data" field: the raw JSON value, or for
// binary data a base64 string and the encoding marker.
func appendDataField(dst []byte, data []byte, binary bool) []byte {
	if binary {
		dst = append(dst, `,"data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, data)
		return append(dst, `","encoding":"base64"`...)
	}
	dst = append(dst, `,"data":`...)
	return appendRaw(dst, data)
}
