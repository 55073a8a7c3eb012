package shared

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSSEParser checks that chunking never changes what the parser reports,
// that without limits it agrees with sseReference, and that what it reports
// is well formed.
func FuzzSSEParser(f *testing.F) {
	for _, c := range sseCases {
		f.Add([]byte(c.in), uint64(len(c.in)), uint8(c.maxLine), uint8(c.maxEvent))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, maxLine, maxEvent uint8) {
		check := func(ev SSEEvent) {
			t.Helper()
			if !utf8.ValidString(ev.Type) || !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.LastEventID) {
				t.Fatalf("event is not valid UTF-8: %+v", ev)
			}
			if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") {
				t.Fatalf("bad event type %q", ev.Type)
			}
			if strings.ContainsAny(ev.LastEventID, "\r\n\x00") {
				t.Fatalf("bad last event ID %q", ev.LastEventID)
			}
			if strings.Contains(ev.Data, "\r") {
				t.Fatalf("CR in data %q", ev.Data)
			}
		}
		whole := sseParse([][]byte{in}, int(maxLine), int(maxEvent), check)
		if !utf8.ValidString(whole.LastID) {
			t.Fatalf("last event ID is not valid UTF-8: %q", whole.LastID)
		}
		for _, e := range whole.Log {
			if e.Comment != nil && !utf8.ValidString(*e.Comment) {
				t.Fatalf("comment is not valid UTF-8: %q", *e.Comment)
			}
		}

		rng := rand.New(rand.NewPCG(seed, seed>>32))
		sseEqual(t, "random chunks", sseParse(sseRandomChunks(in, rng), int(maxLine), int(maxEvent), nil), whole)
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		sseEqual(t, "bytewise", sseParse(bytewise, int(maxLine), int(maxEvent), nil), whole)

		if maxLine == 0 && maxEvent == 0 {
			sseEqual(t, "reference", whole, sseReference(in))
		}
	})
}
