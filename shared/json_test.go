package shared

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duet-rt/duet/shared/assert"
)

// nest wraps inner in n copies of open and close.
func nest(open, inner, close string, n int) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// jsonDepth returns how deep the containers of a valid JSON text nest.
func jsonDepth(p []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "hello, world", `"hello, world"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"slash is left alone", "a/b", `"a/b"`},
		{"short escapes", "\n\r\t", `"\n\r\t"`},
		{"other controls", "\x00\x01\b\f\x1f", `"\u0000\u0001\u0008\u000c\u001f"`},
		{"DEL is not a control in JSON", "\x7f", "\"\x7f\""},
		{"HTML characters are left alone", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"UTF-8 is kept", "é€😀", `"é€😀"`},
		{"line and paragraph separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"each invalid byte", "\xc3\xc3", `"\ufffd\ufffd"`},
		{"truncated sequence", "\xe2\x82", `"\ufffd\ufffd"`},
		{"UTF-8 surrogate", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"above U+10FFFF", "\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`},
		{"overlong", "\xc0\xaf", `"\ufffd\ufffd"`},
		{"replacement character itself", "\uFFFD", "\"\uFFFD\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendJSONString([]byte("x"), tc.in)
			assert.Equal(t, "encoded", string(got), "x"+tc.want)
			var back string
			assert.NoError(t, json.Unmarshal(got[1:], &back))
			assert.Equal(t, "decoded by encoding/json", back, replaceInvalidUTF8(tc.in))
		})
	}
}

// TestAppendJSONStringAgreesWithEncodingJSON checks random strings: the
// output is valid JSON that encoding/json decodes back to the input (with
// invalid UTF-8 replaced), and that encoding/json's own encoding of the
// input decodes to the same string.
func TestAppendJSONStringAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		s := randomString(rng)
		out := AppendJSONString(nil, s)
		if !json.Valid(out) || !utf8.Valid(out) || bytes.ContainsAny(out, "\u2028\u2029") {
			t.Fatalf("%q: bad output %q", s, out)
		}
		var back string
		assert.NoError(t, json.Unmarshal(out, &back))
		assert.Equal(t, "round trip of "+strconv.Quote(s), back, replaceInvalidUTF8(s))
		theirs, err := json.Marshal(s)
		assert.NoError(t, err)
		var theirsBack string
		assert.NoError(t, json.Unmarshal(theirs, &theirsBack))
		assert.Equal(t, "encoding/json's round trip of "+strconv.Quote(s), back, theirsBack)
	}
}

// validJSONCorpus holds inputs on which ValidJSON must agree with json.Valid.
var validJSONCorpus = []string{
	// Valid.
	`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `0.5`, `-0.5`, `1e5`, `1E+5`, `1e-5`, `1.5e10`, `-0e0`,
	`12345678901234567890123456789`, `""`, `"a"`, `"\""`, `"\\\/\b\f\n\r\t"`, `"\u0000"`, `"\uD83D\uDE00"`,
	`"\ud800"`, `"\udc00\ud800"`, `"é😀"`, "\"\u2028\"", "\"\x7f\"", `[]`, `{}`, `[[]]`, `[{}]`, `{"a":{}}`,
	`[1,2,3]`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `{"a":1,"a":2}`, `{"":""}`,
	" \t\n\r1 \t\n\r", " [ 1 , 2 ] ", "{ \"a\" : 1 }", "[\n]", "{\r}",
	nest("[", "", "]", maxDepth), nest(`{"k":`, `"v"`, "}", maxDepth), nest("[", "[1,{}]", "]", maxDepth-2),
	// Invalid.
	``, ` `, `nul`, `nulll`, `True`, `NULL`, `undefined`, `NaN`, `Infinity`, `-Infinity`, `+1`, `01`, `-01`, `00`,
	`1.`, `.1`, `1e`, `1e+`, `1.e5`, `-`, `--1`, `0x1`, `1_000`, `"`, `"a`, `'a'`, `"\x"`, `"\u12"`, `"\u12G4"`,
	"\"\t\"", "\"\n\"", "\"\x00\"", `[`, `]`, `[1,]`, `[,]`, `[1 2]`, `[1,,2]`, `{`, `}`, `{"a"}`, `{"a":}`,
	`{"a" 1}`, `{a:1}`, `{"a":1,}`, `{,}`, `{1:1}`, `[}`, `{]`, `1 2`, `[] []`, `{}x`, "1\x00", "\xef\xbb\xbf1",
	"\v1", "\f1", "\u00a01", `"\'"`, "// c\n1", "/* c */1", `[1]]`, `{"a":1}}`,
	nest("[", "", "]", 10), nest("[", "", "]", 10)[1:], nest(`{"a":`, "", "}", 3),
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, s := range validJSONCorpus {
		t.Run(strconv.Quote(s[:min(len(s), 40)]), func(t *testing.T) {
			assert.Equal(t, "ValidJSON("+strconv.Quote(s)+")", ValidJSON([]byte(s)), json.Valid([]byte(s)))
		})
	}
}

// TestValidJSONDifferences pins where ValidJSON knowingly departs from
// encoding/json: it refuses invalid UTF-8 in strings, which encoding/json
// lets through, and nesting deeper than maxDepth.
func TestValidJSONDifferences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"invalid UTF-8 in a string", "\"\xff\"", false},
		{"invalid UTF-8 in a key", "{\"\xff\":1}", false},
		{"UTF-8 surrogate in a string", "[\"\xed\xb0\x80\"]", false},
		{"invalid UTF-8 outside strings is invalid for both", "[\xff]", false},
		{"arrays at the limit", nest("[", "", "]", maxDepth), true},
		{"arrays beyond the limit", nest("[", "", "]", maxDepth+1), false},
		{"objects at the limit", nest(`{"a":`, "null", "}", maxDepth), true},
		{"objects beyond the limit", nest(`{"a":`, "null", "}", maxDepth+1), false},
		{"mixed at the limit", nest(`[{"a":`, "0", "}]", maxDepth/2), true},
		{"mixed beyond the limit", nest(`[{"a":`, "[]", "}]", maxDepth/2), false},
		{"deep but only in a string", `"` + strings.Repeat("[", 10*maxDepth) + `"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, "ValidJSON", ValidJSON([]byte(tc.in)), tc.want)
			if json.Valid([]byte(tc.in)) && utf8.ValidString(tc.in) {
				assert.Equal(t, "depth within the limit", jsonDepth([]byte(tc.in)) <= maxDepth, tc.want)
			}
		})
	}
}

// TestRawDataCannotInjectFrames: data that passes ValidJSON is copied into
// frames as it is, and WebSocket frames are batched one per line. ValidJSON
// used to stop at a NUL byte, so a publisher could hide a newline and a
// forged frame after one.
func TestRawDataCannotInjectFrames(t *testing.T) {
	t.Parallel()
	forged := `{"type":"message","id":"9-9","channel":"admin","event":"forged","data":true,"ts":0}`
	data := "1\x00\"\n" + forged + "\n\""
	assert.Equal(t, "ValidJSON", ValidJSON([]byte(data)), false)
	_, err := DecodeFrame([]byte(`{"type":"publish","channel":"chat","data":` + data + `}`))
	assert.ErrorIs(t, err, ErrBadJSON, `expected ',' or '}'`)
	_, err = DecodeEnvelope([]byte(`{"data":` + data + `}`))
	assert.ErrorIs(t, err, ErrBadJSON)
}

// TestValidDataDecodes checks the promise the server relies on: data that
// passed ValidJSON can always be sent in a frame that the client decodes.
func TestValidDataDecodes(t *testing.T) {
	t.Parallel()
	for _, s := range validJSONCorpus {
		if !ValidJSON([]byte(s)) {
			continue
		}
		f := Frame{Type: TypeMessage, ID: "1-1", Data: []byte(s)}
		back, err := DecodeFrame(AppendFrame(nil, &f))
		assert.NoError(t, err)
		assert.Equal(t, "data", back.Data, wireFrame(t, f).Data)
	}
}
