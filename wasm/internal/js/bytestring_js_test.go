package js_test

import (
	"testing"

	"github.com/duet-rt/duet/shared/assert"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
)

// TestByteString: a header value's bytes reach JavaScript as the
// ByteString of the same bytes (what fetch sends), and come back.
func TestByteString(t *testing.T) {
	tests := []struct {
		name, raw string
		codes     []int // the JavaScript string's code units
	}{
		{"ascii", "1764-42", []int{'1', '7', '6', '4', '-', '4', '2'}},
		{"empty", "", []int{}},
		{"utf-8 é", "é", []int{0xC3, 0xA9}},
		{"utf-8 emoji after ascii", "a😀", []int{'a', 0xF0, 0x9F, 0x98, 0x80}},
		{"invalid utf-8 byte", "\xff", []int{0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := jsw.ValueOf(jsw.ByteString(tt.raw))
			units := eval(`(s) => Array.from({length: s.length}, (_, i) => s.charCodeAt(i))`).Invoke(s)
			codes := make([]int, units.Length())
			for i := range codes {
				codes[i] = units.Index(i).Int()
			}
			assert.Equal(t, "code units", codes, tt.codes)
			back, ok := jsw.FromByteString(s.String())
			assert.Equal(t, "round trip ok", ok, true)
			assert.Equal(t, "round trip", back, tt.raw)
		})
	}
	// A character above U+00FF is no ByteString.
	if _, ok := jsw.FromByteString("€"); ok {
		t.Fatal("FromByteString accepted €")
	}
	// What fetch's Headers make of it: the bytes, one per character.
	h := jsw.Global().Get("Headers").New()
	h.Call("append", "Last-Event-ID", jsw.ByteString("é"))
	got, _ := jsw.FromByteString(h.Call("get", "Last-Event-ID").String())
	assert.Equal(t, "through Headers", got, "é")
}
