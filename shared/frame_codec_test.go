package shared

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

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
