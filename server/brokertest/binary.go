package brokertest

import (
	"bytes"
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// testBinary: a server.BinaryBroker delivers binary messages live and
// replays them as binary, with the same bytes and encodings, interleaved in
// id order with JSON messages. Brokers that are not BinaryBrokers skip it.
func testBinary(t *testing.T, b server.Broker) {
	bb, ok := b.(server.BinaryBroker)
	if !ok {
		t.Skip("the broker does not implement server.BinaryBroker")
	}
	live := NewRecorder()
	subscribe(t, b, live, shared.ID{}, "bin")
	payloads := [][]byte{{0, 1, 2, 0xff}, {}, []byte("not JSON {")}
	var want []*server.Message
	for i, p := range payloads {
		m, err := bb.PublishBinary(ctxFor(t), "bin", "chunk", p)
		if err != nil {
			t.Fatalf("PublishBinary %d: %v", i, err)
		}
		if !m.Binary() || !bytes.Equal(m.Envelope.Data, p) {
			t.Fatalf("PublishBinary %d returned %+v", i, m.Envelope)
		}
		want = append(want, m, publish(t, b, "bin", i))
	}
	syncOn(t, live, want[len(want)-1])
	sameMessages(t, "live", want, live.Received())

	replay := NewRecorder()
	subscribe(t, b, replay, shared.ID{Epoch: want[0].ID.Epoch, Seq: want[0].ID.Seq - 1}, "bin")
	syncOn(t, replay, want[len(want)-1])
	got := replay.Received()
	sameMessages(t, "replay", want, got)
	for i, m := range got {
		if !bytes.Equal(m.WS(), want[i].WS()) || !bytes.Equal(m.SSE(), want[i].SSE()) {
			t.Fatalf("replayed message %s: encodings differ from the published one", m.Envelope.ID)
		}
	}
}
