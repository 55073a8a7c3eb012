package shared

import "testing"

// TestEncodeAllocs holds the README's "encodes with no allocation into a
// reused buffer" (measured by BenchmarkAppendFrame, which CI does not run):
// appending a message frame, an envelope or a binary message to a buffer
// with room allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	f, err := DecodeFrame(benchMessageFrame)
	if err != nil {
		t.Fatal(err)
	}
	e := f.Envelope()
	be := Envelope{ID: "1764100000000-4242", Channel: "game:arena", Event: "move", TS: 1764100012345, Data: []byte{1, 2, 3, 4}, Binary: true}
	buf := make([]byte, 0, 4096)
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"AppendFrame", func() { buf = AppendFrame(buf[:0], &f) }},
		{"AppendEnvelope", func() { buf = AppendEnvelope(buf[:0], &e) }},
		{"AppendBinaryMessage", func() { buf = AppendBinaryMessage(buf[:0], &be) }},
	} {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s into a reused buffer: %v allocations per call, want 0", tt.name, n)
		}
	}
}
