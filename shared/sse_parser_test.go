package shared

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// sseEntry is one thing a parser reported: an event, a retry or a comment.
type sseEntry struct {
	Event   *SSEEvent
	Retry   int64
	Comment *string
}

func sseEv(typ, data, id string) sseEntry {
	return sseEntry{Event: &SSEEvent{Type: typ, Data: data, LastEventID: id}}
}
func sseRetry(ms int64) sseEntry      { return sseEntry{Retry: ms} }
func sseComment(text string) sseEntry { return sseEntry{Comment: &text} }

func (e sseEntry) String() string {
	switch {
	case e.Event != nil:
		return fmt.Sprintf("event(%q, %q, id %q)", e.Event.Type, e.Event.Data, e.Event.LastEventID)
	case e.Comment != nil:
		return fmt.Sprintf("comment(%q)", *e.Comment)
	}
	return "retry(" + strconv.FormatInt(e.Retry, 10) + ")"
}

// sseResult is everything a parser reports for one stream.
type sseResult struct {
	Log    []sseEntry
	LastID string // LastEventID before End
	Err    error  // the first error from Feed
}

type sseCase struct {
	name     string
	in       string
	want     []sseEntry
	lastID   string
	maxLine  int
	maxEvent int
	err      error
}

var sseCases = []sseCase{
	// Line endings.
	{name: "LF", in: "data: a\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "CR", in: "data: a\r\r", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "CRLF", in: "data: a\r\n\r\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "CRLF inside an event", in: "data: a\r\ndata: b\r\n\r\n", want: []sseEntry{sseEv("message", "a\nb", "")}},
	{name: "mixed endings", in: "data: a\rdata: b\ndata: c\r\n\n", want: []sseEntry{sseEv("message", "a\nb\nc", "")}},
	{name: "LF CR is two endings", in: "data: a\n\rdata: b\n\n", want: []sseEntry{sseEv("message", "a", ""), sseEv("message", "b", "")}},
	{name: "CR CRLF", in: "data: a\r\r\ndata: b\r\n\r\n", want: []sseEntry{sseEv("message", "a", ""), sseEv("message", "b", "")}},
	{name: "CR ends a line at once", in: "data: a\r\r", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "only empty lines", in: "\n\r\n\r\n\n"},
	{name: "empty stream", in: ""},

	// Byte order mark.
	{name: "BOM stripped", in: "\xEF\xBB\xBFdata: a\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "BOM then empty line", in: "\xEF\xBB\xBF\ndata: a\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "second BOM is data", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", want: []sseEntry{sseEv("message", "b", "")}},
	{name: "BOM after a line is data", in: "\n\xEF\xBB\xBFdata: a\n\n"},
	{name: "BOM inside a value", in: "data: \xEF\xBB\xBFa\n\n", want: []sseEntry{sseEv("message", "\uFEFFa", "")}},
	{name: "BOM prefix is not a BOM", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []sseEntry{sseEv("message", "b", "")}},
	{name: "BOM look-alike", in: "\xEF\xBB\xBEdata: a\n\ndata: b\n\n", want: []sseEntry{sseEv("message", "b", "")}},
	{name: "BOM prefix then comment", in: "\xEF\xBB:x\n:y\n", want: []sseEntry{sseComment("y")}},
	{name: "BOM only", in: "\xEF\xBB\xBF"},

	// Comments.
	{name: "comments", in: ":hello\n: world\n:\n\n", want: []sseEntry{sseComment("hello"), sseComment(" world"), sseComment("")}},
	{name: "comment inside an event", in: "data: a\n:c\ndata: b\n\n", want: []sseEntry{sseComment("c"), sseEv("message", "a\nb", "")}},
	{name: "unfinished comment", in: ":c"},

	// Field parsing.
	{name: "data without colon", in: "data\n\n", want: []sseEntry{sseEv("message", "", "")}},
	{name: "data empty value", in: "data:\n\n", want: []sseEntry{sseEv("message", "", "")}},
	{name: "data one space", in: "data: \n\n", want: []sseEntry{sseEv("message", "", "")}},
	{name: "two empty data lines", in: "data\ndata\n\n", want: []sseEntry{sseEv("message", "\n", "")}},
	{name: "data joined with LF", in: "data: a\ndata: b\ndata: c\n\n", want: []sseEntry{sseEv("message", "a\nb\nc", "")}},
	{name: "one leading space removed", in: "data:  a\n\n", want: []sseEntry{sseEv("message", " a", "")}},
	{name: "no space", in: "data:a\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "tab kept", in: "data:\ta\n\n", want: []sseEntry{sseEv("message", "\ta", "")}},
	{name: "trailing space kept", in: "data: a \n\n", want: []sseEntry{sseEv("message", "a ", "")}},
	{name: "colon in value", in: "data: a: b\n\n", want: []sseEntry{sseEv("message", "a: b", "")}},
	{name: "NUL in data", in: "data: a\x00b\n\n", want: []sseEntry{sseEv("message", "a\x00b", "")}},
	{name: "space before colon", in: "data : a\n\n"},
	{name: "unknown field", in: "foo: bar\ndata: a\nbar\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "field names are case sensitive", in: "Data: a\nDATA: b\nEvent: e\nID: 1\nRetry: 5\n\n"},

	// event.
	{name: "event type", in: "event: ping\ndata: a\n\n", want: []sseEntry{sseEv("ping", "a", "")}},
	{name: "event type reset after dispatch", in: "event: ping\ndata: a\n\ndata: b\n\n", want: []sseEntry{sseEv("ping", "a", ""), sseEv("message", "b", "")}},
	{name: "event type reset without data", in: "event: ping\n\ndata: b\n\n", want: []sseEntry{sseEv("message", "b", "")}},
	{name: "event type kept across data", in: "data: a\nevent: late\n\n", want: []sseEntry{sseEv("late", "a", "")}},
	{name: "empty event type", in: "event:\ndata: a\n\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "last event field wins", in: "event: a\nevent: b\ndata: x\n\n", want: []sseEntry{sseEv("b", "x", "")}},
	{name: "event without data", in: "event: a\n\n"},
	{name: "same type twice", in: "event: t\ndata: 1\n\nevent: t\ndata: 2\n\n", want: []sseEntry{sseEv("t", "1", ""), sseEv("t", "2", "")}},

	// id.
	{name: "id", in: "id: 1\ndata: a\n\n", want: []sseEntry{sseEv("message", "a", "1")}, lastID: "1"},
	{name: "id after data", in: "data: a\nid: 5\n\n", want: []sseEntry{sseEv("message", "a", "5")}, lastID: "5"},
	{name: "id persists", in: "id: 1\ndata: a\n\ndata: b\n\n", want: []sseEntry{sseEv("message", "a", "1"), sseEv("message", "b", "1")}, lastID: "1"},
	{name: "empty id resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\n\nid:\ndata: c\n\n", want: []sseEntry{sseEv("message", "a", "1"), sseEv("message", "b", ""), sseEv("message", "c", "")}},
	{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []sseEntry{sseEv("message", "a", "1"), sseEv("message", "b", "1")}, lastID: "1"},
	{name: "id set by an empty event", in: "id: 7\n\n", lastID: "7"},
	{name: "id set without data", in: "id: 7\nevent: x\n\ndata: a\n\n", want: []sseEntry{sseEv("message", "a", "7")}, lastID: "7"},
	{name: "pending id not in force", in: "id: 7\n"},
	{name: "pending id after an event", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n", want: []sseEntry{sseEv("message", "a", "1")}, lastID: "1"},
	{name: "id keeps spaces", in: "id:  1 \n\n", lastID: " 1 "},

	// retry.
	{name: "retry", in: "retry: 10\n", want: []sseEntry{sseRetry(10)}},
	{name: "retry zero", in: "retry: 0\n", want: []sseEntry{sseRetry(0)}},
	{name: "retry leading zeros", in: "retry:007\n", want: []sseEntry{sseRetry(7)}},
	{name: "retry with letters", in: "retry: 10a\n"},
	{name: "retry empty", in: "retry:\nretry: \nretry\n"},
	{name: "retry two spaces", in: "retry:  10\n"},
	{name: "retry negative", in: "retry: -1\n"},
	{name: "retry plus", in: "retry: +1\n"},
	{name: "retry decimal", in: "retry: 1.5\n"},
	{name: "retry non-ASCII digit", in: "retry: 1\u0663\n"},
	{name: "retry largest", in: "retry: 9223372036854775807\n", want: []sseEntry{sseRetry(1<<63 - 1)}},
	{name: "retry clamped", in: "retry: 9223372036854775808\nretry: 99999999999999999999999999\n", want: []sseEntry{sseRetry(1<<63 - 1), sseRetry(1<<63 - 1)}},
	{name: "retry inside an event", in: "data: a\nretry: 5\n\n", want: []sseEntry{sseRetry(5), sseEv("message", "a", "")}},
	{name: "unfinished retry", in: "retry: 5"},

	// End of stream.
	{name: "pending event discarded", in: "data: a\n"},
	{name: "unfinished line discarded", in: "data: a"},
	{name: "only the last event discarded", in: "data: a\n\ndata: b\n", want: []sseEntry{sseEv("message", "a", "")}},
	{name: "CR at the end", in: "data: a\n\r", want: []sseEntry{sseEv("message", "a", "")}},

	// UTF-8 decoding.
	{name: "UTF-8", in: "event: é\ndata: caf\u00e9 \u20ac \U0001F600\n\n", want: []sseEntry{sseEv("é", "caf\u00e9 \u20ac \U0001F600", "")}},
	{name: "U+FFFD itself", in: "data: \uFFFD\n\n", want: []sseEntry{sseEv("message", "\uFFFD", "")}},
	{name: "maximal subpart", in: "data: \xE2\x82A\n\n", want: []sseEntry{sseEv("message", "\uFFFDA", "")}},
	{name: "bad second byte after F0", in: "data: \xF0\x80\x80\n\n", want: []sseEntry{sseEv("message", "\uFFFD\uFFFD\uFFFD", "")}},
	{name: "lone continuation", in: "data: \x80a\n\n", want: []sseEntry{sseEv("message", "\uFFFDa", "")}},
	{name: "overlong", in: "data: \xC0\xAF\xE0\x80\xAF\n\n", want: []sseEntry{sseEv("message", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD", "")}},
	{name: "surrogate", in: "data: \xED\xA0\x80\n\n", want: []sseEntry{sseEv("message", "\uFFFD\uFFFD\uFFFD", "")}},
	{name: "above U+10FFFF", in: "data: \xF4\x90\x80\x80\xF5\n\n", want: []sseEntry{sseEv("message", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD", "")}},
	{name: "FE FF", in: "data: \xFE\xFF\n\n", want: []sseEntry{sseEv("message", "\uFFFD\uFFFD", "")}},
	{name: "truncated before LF", in: "data: \xF0\x9F\x98\n\n", want: []sseEntry{sseEv("message", "\uFFFD", "")}},
	{name: "truncated before CR", in: "data: \xE2\x82\rdata: b\r\r", want: []sseEntry{sseEv("message", "\uFFFD\nb", "")}},
	{name: "truncated before colon", in: "data\xE2:x\ndata:\xC3: y\n\n", want: []sseEntry{sseEv("message", "\uFFFD: y", "")}},
	{name: "lead byte after lead byte", in: "data: \xC2\xC2\xA9\n\n", want: []sseEntry{sseEv("message", "\uFFFD\u00a9", "")}},
	{name: "truncated then valid", in: "data: \xF0\x9F\xF0\x9F\x98\x80\n\n", want: []sseEntry{sseEv("message", "\uFFFD\U0001F600", "")}},
	{name: "invalid type and id", in: "event: \xFF\nid: \xE0\xA0\ndata: a\n\n", want: []sseEntry{sseEv("\uFFFD", "a", "\uFFFD")}, lastID: "\uFFFD"},
	{name: "invalid comment", in: ":\xF0\x9F\x98\n", want: []sseEntry{sseComment("\uFFFD")}},

	// Limits.
	{name: "line at the limit", in: "data: a\n\n", maxLine: 7, want: []sseEntry{sseEv("message", "a", "")}},
	{name: "line over the limit", in: "data: a\n\n", maxLine: 6, err: ErrSSELineTooLong},
	{name: "line over the limit after an event", in: "data: a\n\ndata: abcdef\n\n", maxLine: 8, want: []sseEntry{sseEv("message", "a", "")}, err: ErrSSELineTooLong},
	{name: "unfinished line over the limit", in: "data: a\n\ndata: ab", maxLine: 7, want: []sseEntry{sseEv("message", "a", "")}, err: ErrSSELineTooLong},
	{name: "comment over the limit", in: ":abc\n", maxLine: 3, err: ErrSSELineTooLong},
	{name: "limit counts decoded bytes", in: "data:\xFF\n\n", maxLine: 8, want: []sseEntry{sseEv("message", "\uFFFD", "")}},
	{name: "limit counts replacements", in: "data:\xFF\n\n", maxLine: 7, err: ErrSSELineTooLong},
	{name: "event at the limit", in: "data: ab\ndata: c\n\n", maxEvent: 4, want: []sseEntry{sseEv("message", "ab\nc", "")}},
	{name: "event over the limit", in: "data: ab\ndata: c\n\n", maxEvent: 3, err: ErrSSEEventTooLarge},
	{name: "event limit is per event", in: "data: abc\n\ndata: def\n\n", maxEvent: 3, want: []sseEntry{sseEv("message", "abc", ""), sseEv("message", "def", "")}},
	{name: "empty data lines count", in: "data\ndata\ndata\n\n", maxEvent: 1, err: ErrSSEEventTooLarge},
	{name: "error stops the parser", in: "data: abcdef\nretry: 1\n\n", maxEvent: 3, err: ErrSSEEventTooLarge},
}

func TestSSEParser(t *testing.T) {
	for i, c := range sseCases {
		t.Run(c.name, func(t *testing.T) {
			want := sseResult{Log: c.want, LastID: c.lastID, Err: c.err}
			if c.err == nil {
				sseEqual(t, "reference", sseReference([]byte(c.in)), want)
			}
			rng := rand.New(rand.NewPCG(1, uint64(i)))
			for name, chunks := range sseChunkings([]byte(c.in), rng) {
				got := sseParse(chunks, c.maxLine, c.maxEvent, nil)
				sseEqual(t, name, got, want)
			}
		})
	}
}

// sseChunkings returns in cut up in every way a test should try: whole, one
// byte at a time, in two at every point, and at random points, with empty
// chunks thrown in.
func sseChunkings(in []byte, rng *rand.Rand) map[string][][]byte {
	all := map[string][][]byte{"whole": {in}}
	bytewise := make([][]byte, len(in))
	for i := range in {
		bytewise[i] = in[i : i+1]
	}
	all["bytewise"] = bytewise
	for i := 1; i < len(in); i++ {
		all["split at "+strconv.Itoa(i)] = [][]byte{in[:i], in[i:]}
	}
	for i := range 8 {
		all["random "+strconv.Itoa(i)] = sseRandomChunks(in, rng)
	}
	return all
}

func sseRandomChunks(in []byte, rng *rand.Rand) [][]byte {
	var chunks [][]byte
	for len(in) > 0 {
		n := rng.IntN(min(len(in), 8) + 1) // sometimes 0: an empty chunk
		chunks = append(chunks, in[:n])
		in = in[n:]
	}
	return chunks
}

// sseParse feeds chunks to a new parser, then ends the stream. check, if
// not nil, sees each event.
func sseParse(chunks [][]byte, maxLine, maxEvent int, check func(SSEEvent)) sseResult {
	var r sseResult
	p := SSEParser{
		OnEvent: func(ev SSEEvent) {
			if check != nil {
				check(ev)
			}
			r.Log = append(r.Log, sseEntry{Event: &ev})
		},
		OnRetry:       func(ms int64) { r.Log = append(r.Log, sseRetry(ms)) },
		OnComment:     func(text string) { r.Log = append(r.Log, sseComment(text)) },
		MaxLineBytes:  maxLine,
		MaxEventBytes: maxEvent,
	}
	for _, chunk := range chunks {
		if err := p.Feed(chunk); err != nil {
			r.Err = err
			break
		}
	}
	r.LastID = p.LastEventID()
	p.End()
	return r
}

func sseEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// sseReference interprets a whole stream the way the standard is written,
// one step after another, without chunks, to check SSEParser against.
func sseReference(in []byte) sseResult {
	s := sseReferenceDecode(in)
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r':
			lines = append(lines, s[start:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			start = i + 1
		case '\n':
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	// s[start:] is an unfinished line: discarded at the end of the stream.

	var r sseResult
	var data, typ, idBuf string
	for _, line := range lines {
		if line == "" {
			r.LastID = idBuf
			if data == "" {
				data, typ = "", ""
				continue
			}
			data = strings.TrimSuffix(data, "\n")
			ev := SSEEvent{Type: "message", Data: data, LastEventID: r.LastID}
			if typ != "" {
				ev.Type = typ
			}
			r.Log = append(r.Log, sseEntry{Event: &ev})
			data, typ = "", ""
			continue
		}
		if strings.HasPrefix(line, ":") {
			r.Log = append(r.Log, sseComment(line[1:]))
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			typ = value
		case "data":
			data += value + "\n"
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil {
					n = 1<<63 - 1
				}
				r.Log = append(r.Log, sseRetry(n))
			}
		}
	}
	return r
}

// sseReferenceDecode is the Encoding standard's "UTF-8 decode" told another
// way: drop a leading BOM, then replace each maximal subpart of an
// ill-formed sequence, the longest prefix of some valid sequence or else
// one byte, with U+FFFD.
func sseReferenceDecode(in []byte) string {
	prefixes := sseValidPrefixes()
	in = []byte(strings.TrimPrefix(string(in), "\uFEFF"))
	var b strings.Builder
	for len(in) > 0 {
		r, n := utf8.DecodeRune(in)
		if r != utf8.RuneError || n > 1 {
			b.Write(in[:n])
			in = in[n:]
			continue
		}
		n = 1
		for k := 2; k <= min(3, len(in)); k++ {
			if prefixes[string(in[:k])] {
				n = k
			}
		}
		b.WriteRune(utf8.RuneError)
		in = in[n:]
	}
	return b.String()
}

// sseValidPrefixes returns every proper prefix of the UTF-8 encoding of
// every multi-byte code point.
var sseValidPrefixes = sync.OnceValue(func() map[string]bool {
	prefixes := make(map[string]bool)
	var buf [4]byte
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		for k := 1; k < n; k++ {
			prefixes[string(buf[:k])] = true
		}
	}
	return prefixes
})

func TestSSEDecoder(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ASCII", "abc", "abc"},
		{"valid", "é€😀", "é€😀"},
		{"maximal subpart", "\xE2\x82A", "\uFFFDA"},
		{"F0 80 80", "\xF0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
		{"truncated at the end", "a\xF0\x9F\x98", "a\uFFFD"},
		{"lead at the end", "a\xC3", "a\uFFFD"},
		{"E0 lower boundary", "\xE0\x9F\x80\xE0\xA0\x80", "\uFFFD\uFFFD\uFFFD\u0800"},
		{"ED upper boundary", "\xED\x9F\xBF\xED\xA0\x80", "\uD7FF\uFFFD\uFFFD\uFFFD"},
		{"F4 upper boundary", "\xF4\x8F\xBF\xBF\xF4\x90", "\U0010FFFF\uFFFD\uFFFD"},
		{"C0 C1 F5-FF", "\xC0\xC1\xF5\xF8\xFF", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"BOM not at the start", "a\uFEFF", "a\uFEFF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sseEqual(t, "reference", sseReferenceDecode([]byte(tt.in)), tt.want)
			var whole sseDecoder
			sseEqual(t, "whole", string(whole.flush(whole.decode(nil, []byte(tt.in)))), tt.want)
			var bytewise sseDecoder
			var got []byte
			for i := range len(tt.in) {
				got = bytewise.decode(got, []byte(tt.in[i:i+1]))
			}
			sseEqual(t, "bytewise", string(bytewise.flush(got)), tt.want)
		})
	}
}

func TestSSEParserReconnect(t *testing.T) {
	var got []SSEEvent
	p := SSEParser{OnEvent: func(ev SSEEvent) { got = append(got, ev) }}
	feed := func(s string) {
		t.Helper()
		if err := p.Feed([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	feed("id: 5\ndata: a\n\nid: 6\ndata: lost\r")
	p.End()
	sseEqual(t, "last event ID after End", p.LastEventID(), "5")

	// A new stream: a BOM is stripped again, and the last event ID buffer
	// starts as the string, "5", not as the pending "6".
	feed("\xEF\xBB\xBFdata: b\n\n")
	sseEqual(t, "events", got, []SSEEvent{{"message", "a", "5"}, {"message", "b", "5"}})

	got = nil
	feed("data: pending\n")
	p.Reset("resume-7")
	sseEqual(t, "last event ID after Reset", p.LastEventID(), "resume-7")
	feed("data: c\n\n")
	sseEqual(t, "events after Reset", got, []SSEEvent{{"message", "c", "resume-7"}})
}

func TestSSEParserStopsOnError(t *testing.T) {
	var got []string
	p := SSEParser{
		OnEvent:      func(ev SSEEvent) { got = append(got, ev.Data) },
		MaxLineBytes: 8,
	}
	err := p.Feed([]byte("data: a\n\ndata: too long\n\n"))
	if !errors.Is(err, ErrSSELineTooLong) {
		t.Fatalf("Feed: got %v, want ErrSSELineTooLong", err)
	}
	if err := p.Feed([]byte("data: b\n\n")); !errors.Is(err, ErrSSELineTooLong) {
		t.Fatalf("Feed after the error: got %v, want ErrSSELineTooLong", err)
	}
	sseEqual(t, "events", got, []string{"a"})

	p.Reset("")
	if err := p.Feed([]byte("data: c\n\n")); err != nil {
		t.Fatalf("Feed after Reset: %v", err)
	}
	sseEqual(t, "events after Reset", got, []string{"a", "c"})
}

func TestSSEParserKeepsNoChunk(t *testing.T) {
	var got []string
	p := SSEParser{OnEvent: func(ev SSEEvent) { got = append(got, ev.Data) }}
	chunk := []byte("data: ab")
	if err := p.Feed(chunk); err != nil {
		t.Fatal(err)
	}
	copy(chunk, "XXXXXXXX")
	if err := p.Feed([]byte("\n\n")); err != nil {
		t.Fatal(err)
	}
	sseEqual(t, "events", got, []string{"ab"})
}

// sseBenchStream is a stream of events shaped like Duet's: an id, a type
// and a JSON body, some of it not ASCII.
func sseBenchStream(events int) []byte {
	var b []byte
	for i := range events {
		b = append(b, "id: 1700000000-"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, "\nevent: message\ndata: {\"channel\":\"room-42\",\"seq\":"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ",\"body\":\"h\u00e9llo, w\u00f6rld \U0001F600 the quick brown fox jumps over the lazy dog\"}\n\n"...)
		if i%16 == 0 {
			b = append(b, ": keep-alive\n\n"...)
		}
	}
	return b
}

func BenchmarkSSEParser(b *testing.B) {
	const events = 1000
	stream := sseBenchStream(events)
	for _, size := range []int{4096, 1} {
		b.Run("chunk="+strconv.Itoa(size), func(b *testing.B) {
			var n int
			p := SSEParser{
				OnEvent:       func(SSEEvent) { n++ },
				MaxLineBytes:  64 << 10,
				MaxEventBytes: 1 << 20,
			}
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				for rest := stream; len(rest) > 0; {
					chunk := rest[:min(size, len(rest))]
					rest = rest[len(chunk):]
					if err := p.Feed(chunk); err != nil {
						b.Fatal(err)
					}
				}
				p.End()
			}
			runtime.ReadMemStats(&after)
			if n != b.N*events {
				b.Fatalf("got %d events, want %d", n, b.N*events)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/event")
		})
	}
}
