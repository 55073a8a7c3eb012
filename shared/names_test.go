package shared

import (
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

// nameAllowed is the naming alphabet, spelled out.
func nameAllowed(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_-.:@/=", c) >= 0
}

// assertNameError checks that err is a *Error with code and a message
// containing msg.
func assertNameError(t *testing.T, err error, code Code, msg string) {
	t.Helper()
	if msg == "" {
		assert.NoError(t, err)
		return
	}
	got, ok := ErrorCode(err)
	if !ok {
		t.Fatalf("error %v is not a *Error", err)
	}
	assert.Equal(t, "code", got, code)
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not contain %q", err, msg)
	}
}

func TestValidateChannel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, err string
	}{
		{"one letter", "a", ""},
		{"typical", "chat", ""},
		{"path-like", "news/eu/sports", ""},
		{"every punctuation allowed", "a_b-c.d:e@f/g=h", ""},
		{"digits and capitals", "Room42", ""},
		{"only punctuation", "_-.:@/=", ""},
		{"at the limit", strings.Repeat("x", MaxChannelLength), ""},
		{"empty", "", "duet: channel name is empty (4422 bad channel)"},
		{"over the limit", strings.Repeat("x", MaxChannelLength+1), "channel name is 129 bytes, over the limit of 128"},
		{"far over the limit", strings.Repeat("é", 1000), "channel name is 2000 bytes, over the limit of 128"},
		{"space", "a b", `channel name "a b" has a forbidden character at byte 1 (allowed: letters, digits and _-.:@/=)`},
		{"leading space", " a", "at byte 0"},
		{"trailing newline", "chat\n", `"chat\n" has a forbidden character at byte 4`},
		{"carriage return", "a\rb", "at byte 1"},
		{"tab", "\ta", "at byte 0"},
		{"NUL", "a\x00", `"a\x00" has a forbidden character at byte 1`},
		{"DEL", "a\x7f", "at byte 1"},
		{"NATS wildcard", "news.*", "at byte 5"},
		{"NATS full wildcard", "news.>", "at byte 5"},
		{"comma", "a,b", "at byte 1"},
		{"query characters", "a?b=c&d", "at byte 1"},
		{"percent", "a%20b", "at byte 1"},
		{"hash", "#a", "at byte 0"},
		{"quote", `a"b`, "at byte 1"},
		{"backslash", `a\b`, "at byte 1"},
		{"non-ASCII letter", "café", "at byte 3"},
		{"invalid UTF-8", "a\xff", `"a\xff" has a forbidden character at byte 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertNameError(t, ValidateChannel(tc.in), CodeBadChannel, tc.err)
		})
	}
}

func TestValidateEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, err string
	}{
		{"empty means the default", "", ""},
		{"typical", "say", ""},
		{"the default", DefaultEvent, ""},
		{"every punctuation allowed", "a_b-c.d:e@f/g=h", ""},
		{"at the limit", strings.Repeat("e", MaxEventLength), ""},
		{"over the limit", strings.Repeat("e", MaxEventLength+1), "duet: event name is 65 bytes, over the limit of 64 (4400 bad request)"},
		{"space", "a b", `event name "a b" has a forbidden character at byte 1 (allowed: letters, digits and _-.:@/=)`},
		{"newline would break the SSE event line", "a\nb", "at byte 1"},
		{"carriage return", "a\r", "at byte 1"},
		{"NUL", "\x00", "at byte 0"},
		{"colon space", "a: b", "at byte 2"},
		{"non-ASCII", "événement", "at byte 0"},
		{"reserved prefix", "duet.gap", `duet: event names starting with "duet." are reserved (4400 bad request)`},
		{"reserved prefix alone", "duet.", "are reserved"},
		{"reserved control event", "duet.close", "are reserved"},
		{"prefix without the dot", "duet", ""},
		{"other separator", "duet-gap", ""},
		{"prefix inside", "my.duet.gap", ""},
		{"prefix is case-sensitive", "Duet.gap", ""},
		{"forbidden byte is reported before the prefix", "duet. x", "forbidden character at byte 5"},
		{"length is reported before the prefix", "duet." + strings.Repeat("e", MaxEventLength), "over the limit of 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertNameError(t, ValidateEvent(tc.in), CodeBadRequest, tc.err)
		})
	}
}

// TestNameBytes tries every byte in the middle of a name.
func TestNameBytes(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		name := "a" + string([]byte{byte(c)}) + "z"
		chanErr, eventErr := ValidateChannel(name), ValidateEvent(name)
		if nameAllowed(byte(c)) {
			if chanErr != nil || eventErr != nil {
				t.Fatalf("byte %#x refused: %v, %v", c, chanErr, eventErr)
			}
			continue
		}
		want := "forbidden character at byte 1"
		assertNameError(t, chanErr, CodeBadChannel, want)
		assertNameError(t, eventErr, CodeBadRequest, want)
	}
	for c := 0; c < 256; c++ {
		if nameAllowed(byte(c)) {
			continue
		}
		// Alone, at the start and at the end too.
		for _, name := range []string{string([]byte{byte(c)}), string([]byte{byte(c)}) + "a", "a" + string([]byte{byte(c)})} {
			if ValidateChannel(name) == nil {
				t.Fatalf("channel %s accepted", strconv.Quote(name))
			}
		}
	}
}
