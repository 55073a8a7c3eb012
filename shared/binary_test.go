package shared

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

func TestBinaryFrameRoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("c", 128)
	cases := []struct {
		name string
		in   []byte
		want Frame
	}{
		{"publish", AppendBinaryPublish(nil, "p1", "game:arena", "move", []byte{0, 1, 2, 0xff}),
			Frame{Type: TypePublish, Ref: "p1", Channel: "game:arena", Event: "move", Data: []byte{0, 1, 2, 0xff}, Binary: true}},
		{"publish without ref, event or payload", AppendBinaryPublish(nil, "", "c", "", nil),
			Frame{Type: TypePublish, Channel: "c", Data: []byte{}, Binary: true}},
		{"message", AppendBinaryMessage(nil, &Envelope{ID: "1764100000000-42", Channel: long, Event: "chunk", TS: 1764100012345, Data: []byte("\n\x00raw")}),
			Frame{Type: TypeMessage, ID: "1764100000000-42", Channel: long, Event: "chunk", TS: 1764100012345, Data: []byte("\n\x00raw"), Binary: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBinaryFrame(tc.in)
			assert.NoError(t, err)
			assert.Equal(t, "frame", got, tc.want)
		})
	}
}

func TestBinaryFrameMessageLayout(t *testing.T) {
	t.Parallel()
	// The layout third parties implement, byte for byte (PROTOCOL.md §4.6).
	got := AppendBinaryMessage(nil, &Envelope{ID: "1-2", Channel: "c", Event: "e", TS: 300, Data: []byte{9, 8}})
	want := []byte{0x02, 3, '1', '-', '2', 1, 'c', 1, 'e', 0xac, 0x02, 9, 8}
	assert.Equal(t, "bytes", got, want)
	e := Envelope{ID: "1-2", Channel: "c", Event: "e", TS: 300, Data: []byte{9, 8}}
	assert.Equal(t, "BinaryFrameSize", BinaryFrameSize(&e), len(want))
	pub := AppendBinaryPublish(nil, "r", "c", "", []byte{7})
	assert.Equal(t, "publish bytes", pub, []byte{0x01, 1, 'r', 1, 'c', 0, 7})
}

func TestDecodeBinaryFrameErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"empty", nil, "empty message"},
		{"unknown kind", []byte{0x7f, 0}, "unknown kind 0x7f"},
		{"ref cut short", []byte{0x01, 5, 'a'}, "ref is cut short"},
		{"no channel", []byte{0x01, 0}, "channel is cut short"},
		{"huge length", []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "ref length overflows"},
		{"field too long", append([]byte{0x01, 0x81, 0x02}, make([]byte, 257)...), "longer than 256 bytes"},
		{"no ts", []byte{0x02, 0, 1, 'c', 0}, "ts is cut short"},
		{"ts out of range", []byte{0x02, 0, 1, 'c', 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "ts out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBinaryFrame(tc.in)
			assert.ErrorIs(t, err, ErrBadBinary, tc.msg)
		})
	}
}

func TestBinaryEncodeAllocatesNothing(t *testing.T) {
	e := Envelope{ID: "1764100000000-42", Channel: "game:arena", Event: "move", TS: 1764100012345, Data: make([]byte, 64)}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendBinaryMessage(buf[:0], &e)
		buf = AppendBinaryPublish(buf[:0], "p12", e.Channel, e.Event, e.Data)
	})
	assert.Equal(t, "allocations", allocs, 0.0)
}

func TestBinaryJSON(t *testing.T) {
	t.Parallel()
	data := []byte{0, 0xff, '\n', '"'}
	b64 := base64.StdEncoding.EncodeToString(data)

	env := Envelope{ID: "1-1", Channel: "c", Event: "message", Data: data, TS: 5, Binary: true}
	out := AppendEnvelope(nil, &env)
	assert.Equal(t, "envelope", string(out), `{"id":"1-1","channel":"c","event":"message","data":"`+b64+`","encoding":"base64","ts":5}`)
	back, err := DecodeEnvelope(out)
	assert.NoError(t, err)
	assert.Equal(t, "envelope back", back, env)

	f := MessageFrame(&env)
	back2, err := DecodeFrame(AppendFrame(nil, &f))
	assert.NoError(t, err)
	assert.Equal(t, "message frame back", back2, f)

	pub := Frame{Type: TypePublish, Ref: "1", Channel: "c", Data: []byte{}, Binary: true}
	out = AppendFrame(nil, &pub)
	assert.Equal(t, "publish frame", string(out), `{"type":"publish","ref":"1","channel":"c","data":"","encoding":"base64"}`)
	back3, err := DecodeFrame(out)
	assert.NoError(t, err)
	assert.Equal(t, "publish back", back3, pub)

	// The marker may come before data; escapes in the string are allowed.
	back4, err := DecodeFrame([]byte(`{"encoding":"base64","type":"publish","data":"AP8K\/w=="}`))
	assert.NoError(t, err)
	assert.Equal(t, "escaped data", back4.Data, []byte{0, 0xff, '\n', 0xff})

	for _, bad := range []string{
		`{"type":"publish","data":1,"encoding":"base64"}`,
		`{"type":"publish","data":"!!","encoding":"base64"}`,
		`{"type":"publish","data":"","encoding":"gzip"}`,
	} {
		_, err := DecodeFrame([]byte(bad))
		assert.ErrorIs(t, err, ErrBadJSON)
	}
}

func FuzzDecodeBinaryFrame(f *testing.F) {
	f.Add(AppendBinaryPublish(nil, "p1", "game:arena", "move", []byte{1, 2, 3}))
	f.Add(AppendBinaryMessage(nil, &Envelope{ID: "1-2", Channel: "c", Event: "e", TS: 300, Data: []byte{9}}))
	f.Add([]byte{0x02, 0, 1, 'c', 0, 0xff, 0xff})
	f.Add([]byte{0x01, 0x81, 0x02})
	f.Fuzz(func(t *testing.T, p []byte) {
		fr, err := DecodeBinaryFrame(p)
		if err != nil {
			assert.ErrorIs(t, err, ErrBadBinary)
			return
		}
		if !fr.Binary || !bytes.HasSuffix(p, fr.Data) {
			t.Fatalf("decoded %q as %+v: data is not the tail of the message", p, fr)
		}
		// What decodes re-encodes to the same bytes when its varints were
		// minimal, and always decodes back to the same frame.
		var out []byte
		if fr.Type == TypePublish {
			out = AppendBinaryPublish(nil, fr.Ref, fr.Channel, fr.Event, fr.Data)
		} else {
			e := fr.Envelope()
			out = AppendBinaryMessage(nil, &e)
			assert.Equal(t, "BinaryFrameSize", BinaryFrameSize(&e), len(out))
		}
		back, err := DecodeBinaryFrame(out)
		assert.NoError(t, err)
		assert.Equal(t, "round trip", back, fr)
		// The JSON form carries the same bytes.
		e := fr.Envelope()
		env, err := DecodeEnvelope(AppendEnvelope(nil, &e))
		assert.NoError(t, err)
		assert.Equal(t, "data through JSON", env.Data, append([]byte{}, fr.Data...))
	})
}
