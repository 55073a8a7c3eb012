package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
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

type decodeCase struct {
	name string
	in   string
	want Frame
	// err, when set, is a part of the expected error message; the error
	// must also wrap ErrBadJSON and give an offset.
	err string
}

// withType wraps fields (a JSON object's members) in a frame of type t.
func withType(t, fields string) string {
	if fields == "" {
		return `{"type":"` + t + `"}`
	}
	return `{"type":"` + t + `",` + fields + `}`
}

// dataFrame is a publish frame carrying data.
func dataFrame(data string) string { return `{"type":"publish","data":` + data + `}` }

var decodeCases = []decodeCase{
	// Every frame type of the protocol, as peers send them.
	{
		name: "subscribe",
		in:   `{"type":"subscribe","ref":"1","channels":["chat","news/eu"],"lastEventId":"1764100000000-42"}`,
		want: Frame{Type: TypeSubscribe, Ref: "1", Channels: []string{"chat", "news/eu"}, LastEventID: "1764100000000-42"},
	},
	{
		name: "subscribe without resume",
		in:   `{"type":"subscribe","channels":["chat"]}`,
		want: Frame{Type: TypeSubscribe, Channels: []string{"chat"}},
	},
	{
		name: "unsubscribe",
		in:   `{"type":"unsubscribe","ref":"2","channels":["chat"]}`,
		want: Frame{Type: TypeUnsubscribe, Ref: "2", Channels: []string{"chat"}},
	},
	{
		name: "publish",
		in:   `{"type":"publish","ref":"3","channel":"chat","event":"say","data":{"text":"hi","n":[1,2.5e3]}}`,
		want: Frame{Type: TypePublish, Ref: "3", Channel: "chat", Event: "say", Data: []byte(`{"text":"hi","n":[1,2.5e3]}`)},
	},
	{
		name: "client ping",
		in:   `{"type":"ping","ref":"4"}`,
		want: Frame{Type: TypePing, Ref: "4"},
	},
	{
		name: "pong",
		in:   `{"type":"pong","ref":"4"}`,
		want: Frame{Type: TypePong, Ref: "4"},
	},
	{
		name: "hello",
		in:   `{"type":"hello","client":"aBLrUPC41klc3-RN","heartbeatMs":25000,"maxFrameBytes":65536,"maxChannels":100}`,
		want: Frame{Type: TypeHello, Client: "aBLrUPC41klc3-RN", Heartbeat: 25000, MaxFrameBytes: 65536, MaxChannels: 100},
	},
	{
		name: "presence request",
		in:   `{"type":"presence","ref":"5","channel":"chat"}`,
		want: Frame{Type: TypePresence, Ref: "5", Channel: "chat"},
	},
	{
		name: "presence",
		in:   `{"type":"presence","ref":"5","channel":"chat","clients":[{"client":"aBLrUPC41klc3-RN","user":"ann","info":{"name":"Ann"}},{"client":"x2"}],"count":2,"users":1}`,
		want: Frame{Type: TypePresence, Ref: "5", Channel: "chat", Clients: []PresenceEntry{{Client: "aBLrUPC41klc3-RN", User: "ann", Info: []byte(`{"name":"Ann"}`)}, {Client: "x2"}}, Count: 2, Users: 1},
	},
	{
		name: "presence empty",
		in:   `{"type":"presence","ref":"5","channel":"chat","clients":[],"count":0,"users":0}`,
		want: Frame{Type: TypePresence, Ref: "5", Channel: "chat", Clients: []PresenceEntry{}},
	},
	{
		name: "presence stats",
		in:   `{"type":"presence_stats","ref":"6","channel":"chat","count":10000,"users":9000}`,
		want: Frame{Type: TypePresenceStats, Ref: "6", Channel: "chat", Count: 10000, Users: 9000},
	},
	{
		name: "join",
		in:   `{"type":"join","channel":"chat","client":"aBLrUPC41klc3-RN","user":"ann"}`,
		want: Frame{Type: TypeJoin, Channel: "chat", Client: "aBLrUPC41klc3-RN", User: "ann"},
	},
	{
		name: "leave",
		in:   `{"type":"leave","channel":"chat","client":"aBLrUPC41klc3-RN"}`,
		want: Frame{Type: TypeLeave, Channel: "chat", Client: "aBLrUPC41klc3-RN"},
	},
	{
		name: "subscribed",
		in:   `{"type":"subscribed","ref":"1","channels":["chat","news/eu"]}`,
		want: Frame{Type: TypeSubscribed, Ref: "1", Channels: []string{"chat", "news/eu"}},
	},
	{
		name: "unsubscribed none",
		in:   `{"type":"unsubscribed","ref":"2","channels":[]}`,
		want: Frame{Type: TypeUnsubscribed, Ref: "2", Channels: []string{}},
	},
	{
		name: "message",
		in:   `{"type":"message","id":"1764100000000-43","channel":"chat","event":"message","data":"hello","ts":1764100000123}`,
		want: Frame{Type: TypeMessage, ID: "1764100000000-43", Channel: "chat", Event: "message", Data: []byte(`"hello"`), TS: 1764100000123},
	},
	{
		name: "ack",
		in:   `{"type":"ack","ref":"3","id":"1764100000000-44"}`,
		want: Frame{Type: TypeAck, Ref: "3", ID: "1764100000000-44"},
	},
	{
		name: "error",
		in:   `{"type":"error","ref":"3","code":4422,"message":"channel name \"a b\" has a forbidden character"}`,
		want: Frame{Type: TypeError, Ref: "3", Code: CodeBadChannel, Message: `channel name "a b" has a forbidden character`},
	},
	{
		name: "gap",
		in:   `{"type":"gap","ref":"1","channels":["chat"],"lastEventId":"1764100000000-1","id":"1764100000000-40","reason":"expired"}`,
		want: Frame{Type: TypeGap, Ref: "1", Channels: []string{"chat"}, LastEventID: "1764100000000-1", ID: "1764100000000-40", Reason: GapExpired},
	},
	{
		name: "server ping",
		in:   `{"type":"ping"}`,
		want: Frame{Type: TypePing},
	},
	{
		name: "unknown type is not the codec's business",
		in:   `{"type":"teleport"}`,
		want: Frame{Type: "teleport"},
	},

	// Layout.
	{
		name: "whitespace everywhere",
		in:   " \t\r\n{ \"type\" :\n\"ack\" , \"ts\" : -7 ,\"channels\" : [ \"a\" , \"b\" ] , \"data\" : [ 1 , { } ] } \n",
		want: Frame{Type: TypeAck, TS: -7, Channels: []string{"a", "b"}, Data: []byte(`[ 1 , { } ]`)},
	},
	{
		name: "keys in any order",
		in:   `{"ts":5,"data":null,"type":"message","id":"1-1"}`,
		want: Frame{Type: TypeMessage, ID: "1-1", Data: []byte("null"), TS: 5},
	},
	{
		name: "the last of duplicate keys wins",
		in:   `{"type":"ping","ref":"a","type":"pong","ref":"b"}`,
		want: Frame{Type: TypePong, Ref: "b"},
	},
	{
		name: "channels null",
		in:   `{"type":"subscribe","channels":null}`,
		want: Frame{Type: TypeSubscribe},
	},
	{
		name: "zero and extreme integers",
		in:   `{"type":"hello","ts":-0,"heartbeatMs":9223372036854775807,"maxFrameBytes":-9223372036854775808,"maxChannels":0,"code":65535}`,
		want: Frame{Type: TypeHello, Heartbeat: math.MaxInt64, MaxFrameBytes: math.MinInt64, Code: 65535},
	},

	// Unknown keys are skipped whatever their value.
	{
		name: "unknown keys",
		in:   `{"x":{"a":[1,{"b":null}],"c":"d","type":"not this one"},"type":"ping","y":[[],{},[[["deep"]]]],"z":-1.5e-3,"w":true,"f":false,"n":null,"s":"str\u00e9\"","ref":"r"}`,
		want: Frame{Type: TypePing, Ref: "r"},
	},
	{
		name: "unknown key that looks like a known one",
		in:   `{"Type":"x","TYPE":"y","type":"ping","Channels":7}`,
		want: Frame{Type: TypePing},
	},
	{
		name: "escaped known key",
		in:   `{"\u0074ype":"ping","r\u0065f":"1"}`,
		want: Frame{Type: TypePing, Ref: "1"},
	},

	// Strings.
	{
		name: "short escapes",
		in:   `{"type":"error","message":"q\" b\\ s\/ \b\f\n\r\t end"}`,
		want: Frame{Type: TypeError, Message: "q\" b\\ s/ \b\f\n\r\t end"},
	},
	{
		name: "unicode escapes",
		in:   `{"type":"error","message":"\u00e9\u00C9\u0000\u001f\u20AC\uffff"}`,
		want: Frame{Type: TypeError, Message: "éÉ\x00\x1f€\uffff"},
	},
	{
		name: "surrogate pair",
		in:   `{"type":"error","message":"a\ud83d\ude00b\uD83D\uDE00"}`,
		want: Frame{Type: TypeError, Message: "a😀b😀"},
	},
	{
		name: "lone high surrogate at the end",
		in:   `{"type":"error","message":"a\ud83d"}`,
		want: Frame{Type: TypeError, Message: "a\uFFFD"},
	},
	{
		name: "lone high surrogate before text",
		in:   `{"type":"error","message":"\ud83dx"}`,
		want: Frame{Type: TypeError, Message: "\uFFFDx"},
	},
	{
		name: "lone low surrogate",
		in:   `{"type":"error","message":"\ude00x"}`,
		want: Frame{Type: TypeError, Message: "\uFFFDx"},
	},
	{
		name: "high surrogate then a pair",
		in:   `{"type":"error","message":"\ud83d\ud83d\ude00"}`,
		want: Frame{Type: TypeError, Message: "\uFFFD😀"},
	},
	{
		name: "high surrogate then another escape",
		in:   `{"type":"error","message":"\ud83d\u0041\ud83d\n"}`,
		want: Frame{Type: TypeError, Message: "\uFFFDA\uFFFD\n"},
	},
	{
		name: "swapped pair",
		in:   `{"type":"error","message":"\ude00\ud83d"}`,
		want: Frame{Type: TypeError, Message: "\uFFFD\uFFFD"},
	},
	{
		name: "raw UTF-8",
		in:   `{"type":"error","message":"héllo wörld 😀 日本 ` + "\u2028\u2029\x7f" + `"}`,
		want: Frame{Type: TypeError, Message: "héllo wörld 😀 日本 \u2028\u2029\x7f"},
	},
	{
		name: "invalid UTF-8 becomes U+FFFD",
		in:   "{\"type\":\"error\",\"message\":\"a\xffb\xc3\"}",
		want: Frame{Type: TypeError, Message: "a\uFFFDb\uFFFD"},
	},
	{
		name: "invalid UTF-8 with escapes",
		in:   "{\"type\":\"error\",\"message\":\"\\n\xe2\x82 \xed\xa0\x80\\u00e9\xc3\"}",
		want: Frame{Type: TypeError, Message: "\n\uFFFD\uFFFD \uFFFD\uFFFD\uFFFD\u00e9\uFFFD"},
	},
	{
		name: "invalid UTF-8 in an array of strings",
		in:   "{\"type\":\"subscribe\",\"channels\":[\"\xfe\",\"ok\"]}",
		want: Frame{Type: TypeSubscribe, Channels: []string{"\uFFFD", "ok"}},
	},
	{
		name: "empty strings",
		in:   `{"type":"ack","ref":"","id":"","channels":[""]}`,
		want: Frame{Type: TypeAck, Channels: []string{""}},
	},

	// Raw data of every JSON kind.
	{name: "data object", in: dataFrame(`{"a":{"b":[]},"c":""}`), want: Frame{Type: TypePublish, Data: []byte(`{"a":{"b":[]},"c":""}`)}},
	{name: "data empty object", in: dataFrame(`{}`), want: Frame{Type: TypePublish, Data: []byte(`{}`)}},
	{name: "data array", in: dataFrame(`[1,"two",[3],{"four":4},null]`), want: Frame{Type: TypePublish, Data: []byte(`[1,"two",[3],{"four":4},null]`)}},
	{name: "data empty array", in: dataFrame(`[]`), want: Frame{Type: TypePublish, Data: []byte(`[]`)}},
	{name: "data integer", in: dataFrame(`42`), want: Frame{Type: TypePublish, Data: []byte(`42`)}},
	{name: "data zero", in: dataFrame(`0`), want: Frame{Type: TypePublish, Data: []byte(`0`)}},
	{name: "data negative zero", in: dataFrame(`-0`), want: Frame{Type: TypePublish, Data: []byte(`-0`)}},
	{name: "data fraction", in: dataFrame(`-0.125`), want: Frame{Type: TypePublish, Data: []byte(`-0.125`)}},
	{name: "data exponent", in: dataFrame(`6.02e23`), want: Frame{Type: TypePublish, Data: []byte(`6.02e23`)}},
	{name: "data signed exponents", in: dataFrame(`[1E+2,1e-2,0E0,-1.5E-300]`), want: Frame{Type: TypePublish, Data: []byte(`[1E+2,1e-2,0E0,-1.5E-300]`)}},
	{name: "data huge number", in: dataFrame(`123456789012345678901234567890e999`), want: Frame{Type: TypePublish, Data: []byte(`123456789012345678901234567890e999`)}},
	{name: "data true", in: dataFrame(`true`), want: Frame{Type: TypePublish, Data: []byte(`true`)}},
	{name: "data false", in: dataFrame(`false`), want: Frame{Type: TypePublish, Data: []byte(`false`)}},
	{name: "data null", in: dataFrame(`null`), want: Frame{Type: TypePublish, Data: []byte(`null`)}},
	{name: "data string", in: dataFrame(`"plain"`), want: Frame{Type: TypePublish, Data: []byte(`"plain"`)}},
	{name: "data string with escapes", in: dataFrame(`"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800"`), want: Frame{Type: TypePublish, Data: []byte(`"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800"`)}},
	{name: "data string with raw UTF-8", in: dataFrame(`"é😀` + "\u2028" + `"`), want: Frame{Type: TypePublish, Data: []byte(`"é😀` + "\u2028" + `"`)}},
	{name: "data string with brackets", in: dataFrame(`["]","}",{"{":"["}]`), want: Frame{Type: TypePublish, Data: []byte(`["]","}",{"{":"["}]`)}},
	{name: "data keeps inner whitespace", in: dataFrame(" [ 1 ,\n2 ] "), want: Frame{Type: TypePublish, Data: []byte("[ 1 ,\n2 ]")}},
	{
		name: "data nested to the limit",
		in:   dataFrame(nest("[", "", "]", maxDepth)),
		want: Frame{Type: TypePublish, Data: []byte(nest("[", "", "]", maxDepth))},
	},
	{
		name: "data nested to the limit with a value inside",
		in:   dataFrame(nest(`{"a":`, "1", "}", maxDepth)),
		want: Frame{Type: TypePublish, Data: []byte(nest(`{"a":`, "1", "}", maxDepth))},
	},
	{name: "data nested beyond the limit", in: dataFrame(nest("[", "", "]", maxDepth+1)), err: "nesting too deep"},
	{name: "data nested beyond the limit with a value inside", in: dataFrame(nest("[", "1", "]", maxDepth+1)), err: "nesting too deep"},
	{name: "data objects nested beyond the limit", in: dataFrame(nest(`{"a":`, "{}", "}", maxDepth)), err: "nesting too deep"},
	{name: "data nested far beyond the limit", in: dataFrame(nest("[", "", "]", 100000)), err: "nesting too deep"},
	{
		// The frame object itself is one level of an unknown key's nesting.
		name: "unknown key nested to the limit",
		in:   `{"type":"ping","x":` + nest("[", "", "]", maxDepth-1) + `}`,
		want: Frame{Type: TypePing},
	},
	{name: "unknown key nested beyond the limit", in: `{"type":"ping","x":` + nest("[", "", "]", maxDepth) + `}`, err: "nesting too deep"},

	// Malformed frames.
	{name: "empty input", in: "", err: `expected '{' at offset 0`},
	{name: "only whitespace", in: " \n", err: `expected '{' at offset 2`},
	{name: "not an object", in: `["type","ping"]`, err: `expected '{'`},
	{name: "a string", in: `"ping"`, err: `expected '{'`},
	{name: "null", in: `null`, err: `expected '{'`},
	{name: "unclosed object", in: `{`, err: "expected a string"},
	{name: "unclosed object after a member", in: `{"type":"ping"`, err: `expected ',' or '}'`},
	{name: "trailing comma", in: `{"type":"ping",}`, err: "expected a string at offset 15"},
	{name: "leading comma", in: `{,"type":"ping"}`, err: "expected a string at offset 1"},
	{name: "missing colon", in: `{"type" "ping"}`, err: `expected ':' at offset 8`},
	{name: "missing comma", in: `{"type":"ping" "ref":"1"}`, err: `expected ',' or '}' at offset 15`},
	{name: "unquoted key", in: `{type:"ping"}`, err: "expected a string at offset 1"},
	{name: "single quotes", in: `{'type':'ping'}`, err: "expected a string"},
	{name: "unquoted value", in: `{"type":ping}`, err: "expected a string at offset 8"},
	{name: "null string", in: `{"type":"ping","ref":null}`, err: "expected a string"},
	{name: "number for a string", in: `{"type":"ping","ref":1}`, err: "expected a string"},
	{name: "trailing garbage", in: `{"type":"ping"}x`, err: "trailing data after the value at offset 15"},
	{name: "two objects", in: `{"type":"ping"} {"type":"pong"}`, err: "trailing data after the value at offset 16"},
	{name: "trailing NUL", in: "{\"type\":\"ping\"}\x00", err: "trailing data"},
	{name: "trailing garbage after whitespace", in: "{\"type\":\"ping\"}\n]", err: "trailing data"},
	{name: "missing type", in: `{"ref":"1"}`, err: `missing "type" at offset 0`},
	{name: "empty object", in: `{}`, err: `missing "type"`},
	{name: "empty type", in: `{"type":""}`, err: `missing "type"`},
	{name: "type only in an unknown key", in: `{"x":{"type":"ping"}}`, err: `missing "type"`},
	{name: "channels not an array", in: `{"type":"subscribe","channels":"chat"}`, err: `expected '['`},
	{name: "channels with a number", in: `{"type":"subscribe","channels":["a",1]}`, err: "expected a string"},
	{name: "channels with null", in: `{"type":"subscribe","channels":[null]}`, err: "expected a string"},
	{name: "channels trailing comma", in: `{"type":"subscribe","channels":["a",]}`, err: "expected a string"},
	{name: "channels missing comma", in: `{"type":"subscribe","channels":["a" "b"]}`, err: `expected ',' or ']'`},
	{name: "channels unclosed", in: `{"type":"subscribe","channels":["a"`, err: `expected ',' or ']'`},
	{name: "channels misspelled null", in: `{"type":"subscribe","channels":nul}`, err: `expected '['`},

	// Integers.
	{name: "fraction for an integer", in: withType("message", `"ts":1.5`), err: "expected an integer at offset 23"},
	{name: "integral fraction for an integer", in: withType("hello", `"heartbeatMs":1.0`), err: "expected an integer"},
	{name: "exponent for an integer", in: withType("hello", `"maxChannels":1e3`), err: "expected an integer"},
	{name: "capital exponent for an integer", in: withType("hello", `"maxChannels":1E3`), err: "expected an integer"},
	{name: "leading zero", in: withType("message", `"ts":01`), err: "expected an integer"},
	{name: "negative leading zero", in: withType("message", `"ts":-01`), err: "expected an integer"},
	{name: "plus sign", in: withType("message", `"ts":+1`), err: "expected an integer"},
	{name: "lone minus", in: withType("message", `"ts":-`), err: "expected an integer"},
	{name: "string for an integer", in: withType("message", `"ts":"1"`), err: "expected an integer"},
	{name: "null for an integer", in: withType("message", `"ts":null`), err: "expected an integer"},
	{name: "bool for an integer", in: withType("hello", `"maxFrameBytes":true`), err: "expected an integer"},
	{name: "integer overflow", in: withType("message", `"ts":9223372036854775808`), err: "expected an integer"},
	{name: "integer underflow", in: withType("message", `"ts":-9223372036854775809`), err: "expected an integer"},
	{name: "code negative", in: withType("error", `"code":-1`), err: "code out of range"},
	{name: "code too big", in: withType("error", `"code":65536`), err: "code out of range"},
	{name: "code far too big", in: withType("error", `"code":4294967296`), err: "code out of range"},
	{name: "code fraction", in: withType("error", `"code":4400.5`), err: "expected an integer"},

	// Malformed strings.
	{name: "unterminated string", in: `{"type":"pi`, err: "unterminated string"},
	{name: "unterminated string after an escape", in: `{"type":"p\n`, err: "unterminated string"},
	{name: "backslash at the end", in: `{"type":"p\`, err: "unterminated string"},
	{name: "raw newline in a string", in: "{\"type\":\"pi\nng\"}", err: "control character in string at offset 11"},
	{name: "raw tab in a string", in: "{\"type\":\"ping\",\"ref\":\"a\\n\tb\"}", err: "control character in string"},
	{name: "raw NUL in a string", in: "{\"type\":\"ping\",\"ref\":\"\x00\"}", err: "control character in string"},
	{name: "bad escape", in: `{"type":"ping","ref":"\x41"}`, err: "bad escape in string"},
	{name: "escaped single quote", in: `{"type":"ping","ref":"\'"}`, err: "bad escape in string"},
	{name: "bad hex digit", in: `{"type":"ping","ref":"\u00g0"}`, err: `bad \u escape`},
	{name: "short unicode escape", in: `{"type":"ping","ref":"\u12"}`, err: `bad \u escape`},
	{name: "unicode escape cut by the end", in: `{"type":"ping","ref":"\u12`, err: `short \u escape`},
	{name: "bad escape after a high surrogate", in: `{"type":"ping","ref":"\ud83d\uzzzz"}`, err: `bad \u escape`},

	// Malformed data and unknown values.
	{name: "data missing", in: `{"type":"publish","data":}`, err: "expected a value at offset 25"},
	{name: "data at the end", in: `{"type":"publish","data":`, err: "expected a value"},
	{name: "data bare word", in: dataFrame(`hello`), err: "expected a value"},
	{name: "data NaN", in: dataFrame(`NaN`), err: "expected a value"},
	{name: "data Infinity", in: dataFrame(`-Infinity`), err: "bad number"},
	{name: "data single quotes", in: dataFrame(`'a'`), err: "expected a value"},
	{name: "data truncated true", in: dataFrame(`tru`), err: "bad literal"},
	{name: "data truncated false", in: dataFrame(`fals`), err: "bad literal"},
	{name: "data truncated null", in: dataFrame(`nul`), err: "bad literal"},
	{name: "data capitalized literal", in: dataFrame(`True`), err: "expected a value"},
	{name: "data literal with a tail", in: dataFrame(`truex`), err: `expected ',' or '}'`},
	{name: "data leading zero", in: dataFrame(`01`), err: `expected ',' or '}'`},
	{name: "data leading plus", in: dataFrame(`+1`), err: "expected a value"},
	{name: "data leading dot", in: dataFrame(`.5`), err: "expected a value"},
	{name: "data trailing dot", in: dataFrame(`1.`), err: "bad number"},
	{name: "data empty exponent", in: dataFrame(`1e`), err: "bad number"},
	{name: "data signed empty exponent", in: dataFrame(`1e+`), err: "bad number"},
	{name: "data lone minus", in: dataFrame(`-`), err: "bad number"},
	{name: "data hex", in: dataFrame(`0x10`), err: `expected ',' or '}'`},
	{name: "data array trailing comma", in: dataFrame(`[1,]`), err: "expected a value"},
	{name: "data array leading comma", in: dataFrame(`[,1]`), err: "expected a value"},
	{name: "data array missing comma", in: dataFrame(`[1 2]`), err: `expected ',' or ']'`},
	{name: "data array unclosed", in: dataFrame(`[1`), err: `expected ',' or ']'`},
	{name: "data object trailing comma", in: dataFrame(`{"a":1,}`), err: "expected a string"},
	{name: "data object missing colon", in: dataFrame(`{"a" 1}`), err: `expected ':'`},
	{name: "data object number key", in: dataFrame(`{1:2}`), err: "expected a string"},
	{name: "data object missing value", in: dataFrame(`{"a":}`), err: "expected a value"},
	{name: "data object unclosed", in: dataFrame(`{"a":1`), err: `expected ',' or '}'`},
	{name: "data mismatched brackets", in: dataFrame(`[1}`), err: `expected ',' or ']'`},
	{name: "data string unterminated", in: `{"type":"publish","data":"abc`, err: "unterminated string"},
	{name: "data string control character", in: dataFrame("\"a\tb\""), err: "control character in string"},
	{name: "data string bad escape", in: dataFrame(`"\q"`), err: "bad escape in string"},
	{name: "data string bad unicode escape", in: dataFrame(`"\u12x4"`), err: `bad \u escape`},
	{name: "data string short unicode escape", in: `{"type":"publish","data":"\u12`, err: `short \u escape`},
	{name: "data string backslash at the end", in: `{"type":"publish","data":"\`, err: "unterminated string"},
	// Raw values go out to browsers as they are, so they must be UTF-8
	// (RFC 8259, section 8.1), keys included.
	{name: "data string invalid UTF-8", in: dataFrame("\"a\xffb\""), err: "invalid UTF-8 in string"},
	{name: "data string UTF-8 surrogate", in: dataFrame("\"\xed\xa0\x80\""), err: "invalid UTF-8 in string"},
	{name: "data string truncated UTF-8", in: dataFrame("\"\xe2\x82\""), err: "invalid UTF-8 in string"},
	{name: "data key invalid UTF-8", in: dataFrame("{\"\xff\":1}"), err: "invalid UTF-8 in string"},
	{name: "data key control character", in: dataFrame("{\"a\nb\":1}"), err: "control character in string"},
	{name: "unknown value invalid UTF-8", in: "{\"type\":\"ping\",\"x\":\"\xff\"}", err: "invalid UTF-8 in string"},
	{name: "unknown value malformed", in: `{"type":"ping","x":[1,]}`, err: "expected a value"},
	{name: "unknown value missing", in: `{"type":"ping","x":}`, err: "expected a value"},
}

func TestDecodeFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeFrame([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorIs(t, err, ErrBadJSON, tc.err, "duet/shared: malformed JSON: ", " at offset ")
				assert.Equal(t, "frame on error", got, Frame{})
				var je *jsonError
				if !errors.As(err, &je) || je.off < 0 || je.off > len(tc.in) {
					t.Fatalf("error %q: offset out of the input", err)
				}
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, "frame", got, tc.want)
			// What DecodeFrame accepts, encoding/json accepts too.
			if !json.Valid([]byte(tc.in)) {
				t.Fatalf("accepted %q, which encoding/json refuses", tc.in)
			}
		})
	}
}

// TestDecodeFrameDataAliases documents that Data points into the input and
// nothing else does.
func TestDecodeFrameDataAliases(t *testing.T) {
	t.Parallel()
	in := []byte(`{"type":"publish","channel":"c","data":[1]}`)
	f, err := DecodeFrame(in)
	assert.NoError(t, err)
	for i := range in {
		if in[i] == 'c' || in[i] == '1' {
			in[i] = 'X'
		}
	}
	assert.Equal(t, "channel", f.Channel, "c")
	assert.Equal(t, "data", string(f.Data), "[X]")
}

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want Envelope
		err  string
	}{
		{
			name: "full",
			in:   `{"id":"1-2","channel":"chat","event":"say","data":{"a":[1]},"ts":1764100000000}`,
			want: Envelope{ID: "1-2", Channel: "chat", Event: "say", Data: []byte(`{"a":[1]}`), TS: 1764100000000},
		},
		{
			name: "unknown keys skipped",
			in:   `{"v":2,"id":"1-2","extra":{"x":[true]},"data":null}`,
			want: Envelope{ID: "1-2", Data: []byte("null")},
		},
		{name: "empty object", in: `{}`, want: Envelope{}},
		{name: "escapes", in: `{"event":"\u00e9\ud83d"}`, want: Envelope{Event: "é\uFFFD"}},
		{name: "not an object", in: `[]`, err: `expected '{'`},
		{name: "trailing garbage", in: `{}}`, err: "trailing data"},
		{name: "bad data", in: `{"data":[}`, err: "expected a value"},
		{name: "fraction ts", in: `{"ts":1.5}`, err: "expected an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEnvelope([]byte(tc.in))
			if tc.err != "" {
				assert.ErrorIs(t, err, ErrBadJSON, tc.err)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, "envelope", got, tc.want)
		})
	}
}

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    Frame
		want string
	}{
		{
			name: "subscribe",
			f:    Frame{Type: TypeSubscribe, Ref: "1", Channels: []string{"a", "b"}, LastEventID: "5-6"},
			want: `{"type":"subscribe","ref":"1","channels":["a","b"],"lastEventId":"5-6"}`,
		},
		{
			name: "empty channels are kept, nil channels left out",
			f:    Frame{Type: TypeUnsubscribed, Channels: []string{}},
			want: `{"type":"unsubscribed","channels":[]}`,
		},
		{
			name: "hello",
			f:    Frame{Type: TypeHello, Heartbeat: 25000, MaxFrameBytes: 1 << 16, MaxChannels: 100},
			want: `{"type":"hello","heartbeatMs":25000,"maxFrameBytes":65536,"maxChannels":100}`,
		},
		{
			name: "error",
			f:    Frame{Type: TypeError, Ref: "r", Code: CodeRateLimited, Message: "slow down"},
			want: `{"type":"error","ref":"r","code":4429,"message":"slow down"}`,
		},
		{
			name: "gap",
			f:    Frame{Type: TypeGap, Channels: []string{"a"}, LastEventID: "1-1", ID: "1-9", Reason: GapExpired},
			want: `{"type":"gap","channels":["a"],"lastEventId":"1-1","id":"1-9","reason":"expired"}`,
		},
		{
			name: "publish with data",
			f:    Frame{Type: TypePublish, Channel: "c", Data: []byte(` { "a" : [ 1 , "x y" ] } `)},
			want: `{"type":"publish","channel":"c","data":{"a":[1,"x y"]}}`,
		},
		{
			name: "every field",
			f: Frame{Type: "x", Ref: "r", Channels: []string{"c"}, LastEventID: "l", ID: "i", Channel: "ch", Event: "e",
				Data: []byte("1"), TS: -1, Code: 1, Message: "m", Reason: "re", Heartbeat: 2, MaxFrameBytes: 3, MaxChannels: 4},
			want: `{"type":"x","ref":"r","channels":["c"],"lastEventId":"l","id":"i","channel":"ch","event":"e","data":1,"ts":-1,"code":1,"message":"m","reason":"re","heartbeatMs":2,"maxFrameBytes":3,"maxChannels":4}`,
		},
		{
			name: "message carries the full envelope and nothing else",
			f:    Frame{Type: TypeMessage, Ref: "dropped", Code: 1, ID: "1-1"},
			want: `{"type":"message","id":"1-1","channel":"","event":"","data":null,"ts":0}`,
		},
		{
			name: "message",
			f:    Frame{Type: TypeMessage, ID: "1-2", Channel: "chat", Event: "say", Data: []byte("\"a\\\"\\n\"\t\n"), TS: 7},
			want: `{"type":"message","id":"1-2","channel":"chat","event":"say","data":"a\"\n","ts":7}`,
		},
		{
			name: "zero frame",
			f:    Frame{},
			want: `{"type":""}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendFrame([]byte("prefix:"), &tc.f)
			assert.Equal(t, "appended", string(got), "prefix:"+tc.want)
		})
	}
}

func TestAppendEnvelope(t *testing.T) {
	t.Parallel()
	e := Envelope{ID: "1-2", Channel: "chat", Event: "say", Data: []byte("[1, 2]\n"), TS: 1764100000000}
	got := AppendEnvelope(nil, &e)
	assert.Equal(t, "json", string(got), `{"id":"1-2","channel":"chat","event":"say","data":[1,2],"ts":1764100000000}`)
	back, err := DecodeEnvelope(got)
	assert.NoError(t, err)
	e.Data = []byte("[1,2]")
	assert.Equal(t, "round trip", back, e)

	empty := AppendEnvelope(nil, &Envelope{})
	assert.Equal(t, "zero envelope", string(empty), `{"id":"","channel":"","event":"","data":null,"ts":0}`)

	// A message frame is the envelope with a type in front.
	f := MessageFrame(&e)
	assert.Equal(t, "message frame", string(AppendFrame(nil, &f)), `{"type":"message",`+string(got[1:]))
	assert.Equal(t, "envelope of the frame", f.Envelope(), e)
}

// wireFrame is what AppendFrame can carry of f: a message frame carries its
// envelope only (data null when there is none), and data is compacted.
func wireFrame(t testing.TB, f Frame) Frame {
	t.Helper()
	if f.Type == TypeMessage {
		f = Frame{Type: f.Type, ID: f.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, TS: f.TS, Binary: f.Binary}
		if f.Data == nil && !f.Binary {
			f.Data = []byte("null")
		}
	}
	if f.Clients != nil {
		cs := make([]PresenceEntry, len(f.Clients))
		for i, e := range f.Clients {
			if e.Info != nil {
				var b bytes.Buffer
				if err := json.Compact(&b, e.Info); err != nil {
					t.Fatalf("info %q: %v", e.Info, err)
				}
				e.Info = b.Bytes()
			}
			cs[i] = e
		}
		f.Clients = cs
	}
	if f.Binary {
		f.Data = append([]byte{}, f.Data...) // base64 "" decodes to empty, not nil
		return f
	}
	if f.Data != nil {
		var b bytes.Buffer
		if err := json.Compact(&b, f.Data); err != nil {
			t.Fatalf("data %q: %v", f.Data, err)
		}
		f.Data = b.Bytes()
	}
	return f
}

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases {
		if tc.err != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			out := AppendFrame(nil, &tc.want)
			back, err := DecodeFrame(out)
			assert.NoError(t, err)
			assert.Equal(t, "round trip of "+string(out), back, wireFrame(t, tc.want))
		})
	}
}

// randomString mixes the characters that need care in JSON and JavaScript.
func randomString(rng *rand.Rand) string {
	pieces := []string{
		"a", "Z", "0", " ", "chat", "/", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<", "&",
		"é", "€", "😀", "\u2028", "\u2029", "\uFFFD", "\uFEFF", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	}
	n := rng.IntN(8)
	var b strings.Builder
	for range n {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// randomValue returns a random JSON value as encoding/json would decode it.
func randomValue(rng *rand.Rand, depth int) any {
	switch k := rng.IntN(8); {
	case k == 0 && depth < 4:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[strings.ToValidUTF8(randomString(rng), "\uFFFD")] = randomValue(rng, depth+1)
		}
		return m
	case k == 1 && depth < 4:
		a := []any{}
		for range rng.IntN(4) {
			a = append(a, randomValue(rng, depth+1))
		}
		return a
	case k == 2:
		return strings.ToValidUTF8(randomString(rng), "\uFFFD")
	case k == 3:
		return rng.IntN(2) == 0
	case k == 4:
		return nil
	case k == 5:
		return json.Number(strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)), 'g', -1, 64))
	default:
		return json.Number(strconv.FormatInt(rng.Int64()>>rng.IntN(64), 10))
	}
}

func randomFrame(rng *rand.Rand) Frame {
	types := []string{TypeSubscribe, TypeUnsubscribe, TypePublish, TypePong, TypeHello, TypeSubscribed,
		TypeUnsubscribed, TypeMessage, TypeAck, TypeError, TypeGap, TypePing,
		TypePresence, TypePresenceStats, TypeJoin, TypeLeave, "x\"\u2028"}
	str := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return randomString(rng)
	}
	num := func() int64 {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.Int64() >> rng.IntN(64) * int64(1-2*rng.IntN(2))
	}
	f := Frame{
		Type: types[rng.IntN(len(types))], Ref: str(), LastEventID: str(), ID: str(), Channel: str(), Event: str(),
		TS: num(), Code: Code(rng.IntN(1 << 16)), Message: str(), Reason: str(),
		Heartbeat: num(), MaxFrameBytes: num(), MaxChannels: num(),
		User: str(), Count: num(), Users: num(),
	}
	if rng.IntN(3) > 0 {
		f.Clients = []PresenceEntry{}
		for range rng.IntN(4) {
			e := PresenceEntry{Client: randomString(rng), User: str()}
			if rng.IntN(2) == 0 {
				e.Info, _ = json.Marshal(randomValue(rng, 0))
			}
			f.Clients = append(f.Clients, e)
		}
	}
	if rng.IntN(3) > 0 {
		f.Channels = []string{}
		for range rng.IntN(4) {
			f.Channels = append(f.Channels, randomString(rng))
		}
	}
	if rng.IntN(3) > 0 {
		v := randomValue(rng, 0)
		var err error
		if rng.IntN(2) == 0 {
			f.Data, err = json.MarshalIndent(v, " ", "\t")
		} else {
			f.Data, err = json.Marshal(v)
		}
		if err != nil {
			panic(err)
		}
	}
	return f
}

// TestAppendFrameAgreesWithEncodingJSON decodes what AppendFrame writes with
// encoding/json and checks every member against the frame's fields.
func TestAppendFrameAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		f := randomFrame(rng)
		out := AppendFrame(nil, &f)
		checkFrameOutput(t, out)
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("frame %d: %q: %v", i, out, err)
		}

		want := map[string]any{"type": replaceInvalidUTF8(f.Type)}
		str := func(key, v string) {
			if v != "" || f.Type == TypeMessage {
				want[key] = replaceInvalidUTF8(v)
			}
		}
		num := func(key string, v int64) {
			if v != 0 || f.Type == TypeMessage {
				want[key] = json.Number(strconv.FormatInt(v, 10))
			}
		}
		if f.Type == TypeMessage {
			str("id", f.ID)
			str("channel", f.Channel)
			str("event", f.Event)
			num("ts", f.TS)
			want["data"] = nil
		} else {
			str("ref", f.Ref)
			if f.Channels != nil {
				chans := []any{}
				for _, c := range f.Channels {
					chans = append(chans, replaceInvalidUTF8(c))
				}
				want["channels"] = chans
			}
			str("lastEventId", f.LastEventID)
			str("id", f.ID)
			str("channel", f.Channel)
			str("event", f.Event)
			num("ts", f.TS)
			str("idempotencyKey", f.IdempotencyKey)
			num("code", int64(f.Code))
			str("message", f.Message)
			str("reason", f.Reason)
			num("heartbeatMs", f.Heartbeat)
			num("maxFrameBytes", f.MaxFrameBytes)
			num("maxChannels", f.MaxChannels)
			str("user", f.User)
			if f.Clients != nil {
				cs := []any{}
				for _, e := range f.Clients {
					c := map[string]any{"client": replaceInvalidUTF8(e.Client)}
					if e.User != "" {
						c["user"] = replaceInvalidUTF8(e.User)
					}
					if e.Info != nil {
						dd := json.NewDecoder(bytes.NewReader(e.Info))
						dd.UseNumber()
						var v any
						if err := dd.Decode(&v); err != nil {
							t.Fatal(err)
						}
						c["info"] = v
					}
					cs = append(cs, c)
				}
				want["clients"] = cs
			}
			if f.Type == TypePresence || f.Type == TypePresenceStats {
				want["count"] = json.Number(strconv.FormatInt(f.Count, 10))
				want["users"] = json.Number(strconv.FormatInt(f.Users, 10))
			} else {
				num("count", f.Count)
				num("users", f.Users)
			}
		}
		if f.Data != nil {
			dd := json.NewDecoder(bytes.NewReader(f.Data))
			dd.UseNumber()
			var v any
			if err := dd.Decode(&v); err != nil {
				t.Fatal(err)
			}
			want["data"] = v
		}
		assert.Equal(t, "frame "+strconv.Itoa(i)+" "+string(out), m, want)

		back, err := DecodeFrame(out)
		assert.NoError(t, err)
		assert.Equal(t, "round trip", back, wireFrame(t, validFrame(f)))
	}
}

// replaceInvalidUTF8 is what a JSON round trip makes of s: each byte that is
// not part of valid UTF-8 becomes U+FFFD.
func replaceInvalidUTF8(s string) string { return string([]rune(s)) }

func validFrame(f Frame) Frame {
	f.Type, f.Ref, f.LastEventID, f.ID = replaceInvalidUTF8(f.Type), replaceInvalidUTF8(f.Ref), replaceInvalidUTF8(f.LastEventID), replaceInvalidUTF8(f.ID)
	f.Channel, f.Event, f.Message, f.Reason = replaceInvalidUTF8(f.Channel), replaceInvalidUTF8(f.Event), replaceInvalidUTF8(f.Message), replaceInvalidUTF8(f.Reason)
	f.User = replaceInvalidUTF8(f.User)
	if f.Clients != nil {
		cs := make([]PresenceEntry, len(f.Clients))
		for i, e := range f.Clients {
			cs[i] = PresenceEntry{Client: replaceInvalidUTF8(e.Client), User: replaceInvalidUTF8(e.User), Info: e.Info}
		}
		f.Clients = cs
	}
	if f.Channels != nil {
		cs := make([]string, len(f.Channels))
		for i, c := range f.Channels {
			cs[i] = replaceInvalidUTF8(c)
		}
		f.Channels = cs
	}
	return f
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
