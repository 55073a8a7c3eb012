package main

import (
	"bytes"
	"strconv"
)

// The payload every published message carries:
//
//	{"seq":12,"t":1764100012345678901,"p":"xxxx…"}
//
// seq counts the messages of one channel from 1; t is the publisher's clock
// when it sent the message, Unix nanoseconds (publisher and subscribers are
// one process, so one clock); p pads the payload to the requested size.

// appendPayload appends a payload of about size bytes (never less than the
// two numbers need) to b.
func appendPayload(b []byte, seq, sentNs int64, size int) []byte {
	start := len(b)
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, sentNs, 10)
	b = append(b, `,"p":"`...)
	pad := size - (len(b) - start) - 2
	for range max(pad, 0) {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

var (
	seqKey = []byte(`"seq":`)
	tKey   = []byte(`"t":`)
)

// scanPayloads calls fn for each payload found in frame, in order: a frame
// may hold several messages (a batched WebSocket message, or the recovered
// publications of a Centrifugo connect reply). It reports how many it found.
func scanPayloads(frame []byte, fn func(seq, sentNs int64)) int {
	n := 0
	for {
		i := bytes.Index(frame, seqKey)
		if i < 0 {
			return n
		}
		frame = frame[i+len(seqKey):]
		seq, rest, ok := parseInt(frame)
		if !ok {
			continue
		}
		j := bytes.Index(rest, tKey)
		if j < 0 {
			continue
		}
		sent, rest2, ok := parseInt(rest[j+len(tKey):])
		if !ok {
			continue
		}
		frame = rest2
		fn(seq, sent)
		n++
	}
}

// parseInt reads a non-negative decimal integer at the start of b.
func parseInt(b []byte) (int64, []byte, bool) {
	var v int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19 {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, b[i:], i > 0
}

// stringField returns the value after the first key (`"name":"`) in b, up
// to the closing quote (no escapes: ids and epochs have none).
func stringField(b, key []byte) []byte {
	return stringFieldAt(b, key, bytes.Index(b, key))
}

// lastStringField is stringField for the last key in b: the id of the last
// message of a batched WebSocket message.
func lastStringField(b, key []byte) []byte {
	return stringFieldAt(b, key, bytes.LastIndex(b, key))
}

func stringFieldAt(b, k []byte, i int) []byte {
	if i < 0 {
		return nil
	}
	b = b[i+len(k):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil
	}
	return b[:j]
}

// lastIntField returns the number after the last key (`"name":`) in b.
func lastIntField(b, key []byte) (int64, bool) {
	k := key
	i := bytes.LastIndex(b, k)
	if i < 0 {
		return 0, false
	}
	v, _, ok := parseInt(b[i+len(k):])
	return v, ok
}
