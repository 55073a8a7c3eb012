package shared

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/duet-rt/duet/shared/assert"
)

// refDecodeFrame is DecodeFrame written with encoding/json, to fuzz against:
// the same keys and value kinds, the last of duplicate keys winning, with the
// rules encoding/json does not have spelled out: integers without fraction or
// exponent, codes in 0–65535, raw values (data and unknown keys) in UTF-8 and
// at most maxDepth containers deep counting the frame itself for unknown
// keys but not for data.
func refDecodeFrame(p []byte) (Frame, bool) {
	if !json.Valid(p) {
		return Frame{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Frame{}, false
	}
	var f Frame
	var enc string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Frame{}, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Frame{}, false
		}
		raw = bytes.TrimSpace(raw)
		ok := true
		switch tok.(string) {
		case "type":
			f.Type, ok = refString(raw)
		case "ref":
			f.Ref, ok = refString(raw)
		case "channels":
			f.Channels, ok = refStrings(raw)
		case "lastEventId":
			f.LastEventID, ok = refString(raw)
		case "id":
			f.ID, ok = refString(raw)
		case "channel":
			f.Channel, ok = refString(raw)
		case "event":
			f.Event, ok = refString(raw)
		case "data":
			f.Data, ok = raw, utf8.Valid(raw) && jsonDepth(raw) <= maxDepth
		case "ts":
			f.TS, ok = refInt(raw)
		case "code":
			var n int64
			n, ok = refInt(raw)
			ok = ok && n >= 0 && n <= 0xFFFF
			f.Code = Code(n)
		case "message":
			f.Message, ok = refString(raw)
		case "reason":
			f.Reason, ok = refString(raw)
		case "client":
			f.Client, ok = refString(raw)
		case "heartbeatMs":
			f.Heartbeat, ok = refInt(raw)
		case "maxFrameBytes":
			f.MaxFrameBytes, ok = refInt(raw)
		case "maxChannels":
			f.MaxChannels, ok = refInt(raw)
		case "user":
			f.User, ok = refString(raw)
		case "clients":
			f.Clients, ok = refPresenceEntries(raw)
		case "count":
			f.Count, ok = refInt(raw)
		case "users":
			f.Users, ok = refInt(raw)
		case "encoding":
			enc, ok = refString(raw)
		case "idempotencyKey":
			f.IdempotencyKey, ok = refString(raw)
		case "since":
			f.Since, ok = refString(raw)
		case "limit":
			f.Limit, ok = refInt(raw)
		case "reverse":
			f.Reverse, ok = refBool(raw)
		case "complete":
			f.Complete, ok = refBool(raw)
		case "next":
			f.Next, ok = refString(raw)
		case "messages":
			f.Messages, ok = refEnvelopes(raw)
		default:
			ok = utf8.Valid(raw) && jsonDepth(raw) <= maxDepth-1
		}
		if !ok {
			return Frame{}, false
		}
	}
	switch enc {
	case "":
	case EncodingBase64:
		s, ok := refString(f.Data)
		if !ok {
			return Frame{}, false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Frame{}, false
		}
		f.Data, f.Binary = append([]byte{}, b...), true
	default:
		return Frame{}, false
	}
	return f, f.Type != ""
}

func refBool(raw []byte) (bool, bool) {
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// refEnvelopes decodes an array of envelopes, each with DecodeEnvelope
// (whose own fuzzing is elsewhere).
func refEnvelopes(raw []byte) ([]Envelope, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil || jsonDepth(raw) > maxDepth-1 {
		return nil, false
	}
	out := []Envelope{}
	for _, e := range elems {
		env, err := DecodeEnvelope(bytes.TrimSpace(e))
		if err != nil {
			return nil, false
		}
		out = append(out, env)
	}
	return out, true
}

func refString(raw []byte) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func refStrings(raw []byte) ([]string, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	out := []string{}
	for _, e := range elems {
		s, ok := refString(bytes.TrimSpace(e))
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// refPresenceEntries reads a "clients" array: objects whose "client" and
// "user" are strings and whose "info" (and unknown keys) are raw values
// within the depth limit, counting the frame, the array and the entry.
func refPresenceEntries(raw []byte) ([]PresenceEntry, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	out := []PresenceEntry{}
	for _, el := range elems {
		el = bytes.TrimSpace(el)
		if len(el) == 0 || el[0] != '{' {
			return nil, false
		}
		dec := json.NewDecoder(bytes.NewReader(el))
		_, _ = dec.Token()
		var e PresenceEntry
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, false
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, false
			}
			v = bytes.TrimSpace(v)
			ok := true
			switch tok.(string) {
			case "client":
				e.Client, ok = refString(v)
			case "user":
				e.User, ok = refString(v)
			case "info":
				e.Info, ok = v, utf8.Valid(v) && jsonDepth(v) <= maxDepth-3
			default:
				ok = utf8.Valid(v) && jsonDepth(v) <= maxDepth-3
			}
			if !ok {
				return nil, false
			}
		}
		out = append(out, e)
	}
	return out, true
}

func refInt(raw []byte) (int64, bool) {
	digits := bytes.TrimPrefix(raw, []byte("-"))
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// checkFrameOutput checks what AppendFrame wrote: one line of valid UTF-8
// JSON, fit for an SSE data line and for batching frames one per line. (Raw
// data may hold U+2028 and U+2029 unescaped: they end no line there, and
// JSON.parse takes them.)
func checkFrameOutput(t *testing.T, out []byte) {
	t.Helper()
	if !json.Valid(out) || !utf8.Valid(out) || bytes.ContainsAny(out, "\r\n") {
		t.Fatalf("AppendFrame wrote %q: not one line of valid UTF-8 JSON", out)
	}
}

// fuzzSeeds are the inputs of decodeCases but the huge ones: the fuzzer
// would spend its time minimizing their mutations.
func fuzzSeeds() []string {
	var seeds []string
	for _, c := range decodeCases {
		if len(c.in) <= 4<<10 {
			seeds = append(seeds, c.in)
		}
	}
	return seeds
}

func FuzzDecodeFrame(f *testing.F) {
	for _, c := range fuzzSeeds() {
		f.Add([]byte(c))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		fr := randomFrame(rng)
		f.Add(AppendFrame(nil, &fr))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := DecodeFrame(p)
		want, ok := refDecodeFrame(p)
		if err != nil {
			assert.ErrorIs(t, err, ErrBadJSON, "duet/shared: malformed JSON: ", " at offset ")
			if ok {
				t.Fatalf("refused %q, which encoding/json reads as %+v: %v", p, want, err)
			}
			return
		}
		if !ok {
			t.Fatalf("accepted %q as %+v; encoding/json does not", p, got)
		}
		assert.Equal(t, "frame", got, want)
		if got.Data != nil && !got.Binary && !json.Valid(got.Data) {
			t.Fatalf("data %q is not valid JSON", got.Data)
		}

		out := AppendFrame(nil, &got)
		checkFrameOutput(t, out)
		back, err := DecodeFrame(out)
		if err != nil {
			t.Fatalf("cannot decode %q, the encoding of %+v: %v", out, got, err)
		}
		assert.Equal(t, "round trip through "+string(out), back, wireFrame(t, got))
	})
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONCorpus {
		f.Add([]byte(s))
	}
	for _, c := range fuzzSeeds() {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got := ValidJSON(p)
		// json.Valid lets invalid UTF-8 in strings through; raw values are
		// sent on to browsers as they are, so ValidJSON does not.
		want := json.Valid(p) && utf8.Valid(p) && jsonDepth(p) <= maxDepth
		if got != want {
			t.Fatalf("ValidJSON(%q) = %v, want %v", p, got, want)
		}
		if !got {
			return
		}
		// What the server accepts as data, a client can decode.
		fr := Frame{Type: TypeMessage, ID: "1-1", Data: p}
		out := AppendFrame(nil, &fr)
		checkFrameOutput(t, out)
		back, err := DecodeFrame(out)
		if err != nil {
			t.Fatalf("data %q: cannot decode %q: %v", p, out, err)
		}
		assert.Equal(t, "data", back.Data, wireFrame(t, fr).Data)
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\n\r\t\x00\x1f\x7f", "é😀", "\u2028\u2029", "\xff\xc3", "\xed\xa0\x80", "<&>"} {
		f.Add(s)
	}
	for _, c := range fuzzSeeds() {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, s)
		if !json.Valid(out) || !utf8.Valid(out) || bytes.ContainsAny(out, "\u2028\u2029") {
			t.Fatalf("AppendJSONString(%q) = %q: not valid UTF-8 JSON safe in JavaScript", s, out)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Fatalf("AppendJSONString(%q) = %q: raw control character", s, out)
			}
		}
		want := replaceInvalidUTF8(s) // each invalid byte becomes U+FFFD
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		assert.Equal(t, "decoded by encoding/json", back, want)
		d := decoder{p: out}
		assert.Equal(t, "decoded by str", d.str(), want)
		assert.Equal(t, "consumed", d.i, len(out))
	})
}
