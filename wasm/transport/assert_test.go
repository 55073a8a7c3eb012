package transport

import (
	"reflect"
	"testing"

	"github.com/duet-rt/duet/shared"
)

// A tiny assert helper, in the spirit of coder/websocket's internal/test/assert.

func equal[T any](t *testing.T, name string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got: %#v\nwant: %#v", name, got, want)
	}
}

func isTrue(t *testing.T, name string, v bool) {
	t.Helper()
	if !v {
		t.Fatalf("%s: want true", name)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func errCode(t *testing.T, err error, want shared.Code) {
	t.Helper()
	code, ok := shared.ErrorCode(err)
	if !ok || code != want {
		t.Fatalf("error %v: code %d, want %d", err, code, want)
	}
}
