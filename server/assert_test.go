package server

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A tiny assert helper in the style of coder/websocket's internal/test/assert:
// each function reports the caller's line (t.Helper) and stops the test.

func assertEqual[T any](t testing.TB, name string, want, got T) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s: want %#v, got %#v", name, want, got)
	}
}

func assertSuccess(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func assertErrorIs(t testing.TB, want, got error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("want error %v, got %v", want, got)
	}
}

func assertTrue(t testing.TB, name string, ok bool) {
	t.Helper()
	if !ok {
		t.Fatalf("%s: expected true", name)
	}
}

func assertContains(t testing.TB, name, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s: %q does not contain %q", name, s, sub)
	}
}
