package shared

import (
	"encoding/base64"
	"testing"
)

// A game update (23 bytes) and a media chunk (8 KiB), the two payloads the
// demo sends as binary frames.
var benchPayloads = []struct {
	name string
	data []byte
}{
	{"update23B", make([]byte, 23)},
	{"chunk8KiB", make([]byte, 8<<10)},
}

func BenchmarkAppendBinaryMessage(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			e := Envelope{ID: "1764100000000-4242", Channel: "game:arena", Event: "move", TS: 1764100012345, Data: p.data, Binary: true}
			buf := make([]byte, 0, BinaryFrameSize(&e))
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendBinaryMessage(buf[:0], &e)
			}
			b.ReportMetric(float64(len(buf)), "frame-bytes")
			// The same message as a JSON message frame, base64 data.
			f := MessageFrame(&e)
			b.ReportMetric(float64(len(AppendFrame(nil, &f))), "json-frame-bytes")
		})
	}
}

func BenchmarkDecodeBinaryFrame(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			frame := AppendBinaryPublish(nil, "p12", "game:arena", "move", p.data)
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeBinaryFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBase64Frame is the JSON route for the same bytes (a client
// without binary frames, or the SSE wire): DecodeFrame plus base64.
func BenchmarkDecodeBase64Frame(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			frame := []byte(`{"type":"publish","ref":"p12","channel":"game:arena","event":"move","data":"` +
				base64.StdEncoding.EncodeToString(p.data) + `","encoding":"base64"}`)
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
