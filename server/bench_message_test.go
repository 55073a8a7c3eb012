package server

import (
	"context"
	"testing"

	"github.com/duet-rt/duet/shared"
)

// Encode-once: a published message is encoded for both wires once, at
// publish time, and the bytes are shared by every subscriber.

var benchPayloads = []struct {
	name string
	data string
}{
	{"small", `{"text":"hello, world","user":"ada","n":42}`},
	{"1KiB", `{"text":` + fill(1<<10) + `}`},
	{"64KiB", `{"text":` + fill(64<<10) + `}`},
}

func BenchmarkNewMessage(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			data := []byte(p.data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := range b.N {
				_ = NewMessage(shared.ID{Epoch: testEpoch, Seq: uint64(i) + 1}, "chat:lobby", "message", data, 1764100012345)
			}
		})
	}
}

// BenchmarkFanoutEncoding shows what encode-once saves: the writers of 1000
// subscribers copying one shared encoding, against encoding the message for
// each of them.
func BenchmarkFanoutEncoding(b *testing.B) {
	const subscribers = 1000
	data := []byte(benchPayloads[0].data)
	id := shared.ID{Epoch: testEpoch, Seq: 1}
	buf := make([]byte, 0, 4<<10)
	b.Run("once", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			m := NewMessage(id, "chat:lobby", "message", data, 1764100012345)
			for range subscribers {
				buf = append(buf[:0], m.SSE()...)
			}
		}
	})
	b.Run("per subscriber", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for range subscribers {
				m := NewMessage(id, "chat:lobby", "message", data, 1764100012345)
				buf = append(buf[:0], m.SSE()...)
			}
		}
	})
}

// BenchmarkHubPublish is the publish path without subscribers: validation,
// id, both encodings, history.
func BenchmarkHubPublish(b *testing.B) {
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) {
			broker := NewMemoryBroker(&MemoryConfig{Epoch: testEpoch, HistorySize: 100})
			defer broker.Close()
			h, err := NewHub(&Config{Broker: broker, Logger: quietLogger(), MaxPublishBytes: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			data := []byte(p.data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for range b.N {
				if _, err := h.Publish(ctx, "chat:lobby", "", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
