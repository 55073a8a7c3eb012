package shared

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

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
