package shared

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Each benchmark runs the codec ("duet") beside its encoding/json
// equivalent, so the ratio can be reported:
//
//	go test ./shared/ -run='^$' -bench='Frame|Envelope' -benchmem

// benchMessageFrame is a typical message frame: a small chat message.
var benchMessageFrame = []byte(`{"type":"message","id":"1764100000000-12345","channel":"room/lobby","event":"chat","data":{"user":"alice","text":"hello, everyone!"},"ts":1764100000123}`)

// jsonFrame is Frame as encoding/json would want it.
type jsonFrame struct {
	Type          string          `json:"type"`
	Ref           string          `json:"ref,omitempty"`
	Channels      []string        `json:"channels,omitempty"`
	LastEventID   string          `json:"lastEventId,omitempty"`
	ID            string          `json:"id,omitempty"`
	Channel       string          `json:"channel,omitempty"`
	Event         string          `json:"event,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	TS            int64           `json:"ts,omitempty"`
	Code          uint16          `json:"code,omitempty"`
	Message       string          `json:"message,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Heartbeat     int64           `json:"heartbeatMs,omitempty"`
	MaxFrameBytes int64           `json:"maxFrameBytes,omitempty"`
	MaxChannels   int64           `json:"maxChannels,omitempty"`
}

type jsonEnvelope struct {
	ID      string          `json:"id"`
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	TS      int64           `json:"ts"`
}

func benchFrame(b *testing.B) Frame {
	f, err := DecodeFrame(benchMessageFrame)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkDecodeFrame(b *testing.B) {
	b.Run("duet", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeFrame(benchMessageFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		for b.Loop() {
			var f jsonFrame
			if err := json.Unmarshal(benchMessageFrame, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendFrame(b *testing.B) {
	f := benchFrame(b)
	jf := jsonFrame{Type: f.Type, ID: f.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, TS: f.TS}
	b.Run("duet", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendFrame(buf[:0], &f)
		}
	})
	b.Run("duet_new_buffer", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		for b.Loop() {
			AppendFrame(nil, &f)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&jf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json_encoder", func(b *testing.B) {
		b.SetBytes(int64(len(benchMessageFrame)))
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&jf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendEnvelope(b *testing.B) {
	f := benchFrame(b)
	e := f.Envelope()
	je := jsonEnvelope{ID: e.ID, Channel: e.Channel, Event: e.Event, Data: e.Data, TS: e.TS}
	size := int64(len(AppendEnvelope(nil, &e)))
	b.Run("duet", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendEnvelope(buf[:0], &e)
		}
	})
	b.Run("duet_new_buffer", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			AppendEnvelope(nil, &e)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&je); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json_encoder", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&je); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	data := benchFrame(b).Data
	b.Run("duet", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			ValidJSON(data)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			json.Valid(data)
		}
	})
}
