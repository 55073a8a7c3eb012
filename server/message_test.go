package server

import (
	"bytes"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// NewMessage writes SSE events by hand for speed; they must be the bytes
// go-sse writes, and the WebSocket frame the bytes of shared.AppendFrame.
func TestNewMessageEncodings(t *testing.T) {
	tests := []struct {
		name    string
		id      shared.ID
		channel string
		event   string
		data    string
	}{
		{"small", shared.ID{Epoch: testEpoch, Seq: 1}, "chat:lobby", "message", `{"text":"hi"}`},
		{"default event", shared.ID{Epoch: 1764100012345, Seq: 99}, "c", "", `null`},
		{"whitespace compacted", shared.ID{Epoch: testEpoch, Seq: 2}, "c", "update", "{\n  \"a\": [1, 2],\n  \"b\": \"x\\ny\"\n}"},
		{"escapes in names", shared.ID{Epoch: testEpoch, Seq: 3}, "ch\"an\u2028", "ev", `"\u2028 é"`},
		{"large", shared.ID{Epoch: testEpoch, Seq: 4}, "c", "message", `{"text":` + fill(70<<10) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(tt.id, tt.channel, tt.event, []byte(tt.data), 1764100012345)
			env := shared.AppendEnvelope(nil, &m.Envelope)
			assert.Equal(t, "SSE", string(m.SSE()), string(encodeSSE(m.Envelope.ID, m.Envelope.Event, env)))
			f := shared.MessageFrame(&m.Envelope)
			assert.Equal(t, "WS", string(m.WS()), string(shared.AppendFrame(nil, &f)))
			// The two encodings share a backing array: appending to one
			// must not overwrite the other.
			assert.True(t, "SSE is capped", cap(m.SSE()) == len(m.SSE()))
			before := bytes.Clone(m.WS())
			_ = append(m.SSE(), "xxxx"...)
			assert.Equal(t, "WS after an append to SSE", string(m.WS()), string(before))
		})
	}
}
