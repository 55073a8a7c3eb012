//go:build !js

package eventsource

import (
	"strings"
	"testing"
)

func TestIsEventStream(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"TEXT/EVENT-STREAM", true},
		{" text/event-stream\t", true},
		{"text/event-stream;charset=utf-8", true},
		{`text/event-stream; charset="UTF-8"`, true},
		{"text/event-stream; foo=bar", true},
		{"text/event-stream; charset=utf8", false},
		{"text/event-stream; charset=iso-8859-1", false},
		{"text/event-streams", false},
		{"text/plain", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isEventStream(tt.ct); got != tt.want {
			t.Errorf("isEventStream(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

func FuzzIsEventStream(f *testing.F) {
	for _, s := range []string{"text/event-stream", "Text/Event-Stream; charset=UTF-8", `text/event-stream;charset="x"`, ";;=;", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		ok := isEventStream(ct)
		essence, _, _ := strings.Cut(ct, ";")
		if ok && !strings.EqualFold(strings.TrimSpace(essence), "text/event-stream") {
			t.Fatalf("isEventStream(%q) accepted another type", ct)
		}
	})
}
