// Package assert is the project's tiny test assertion helper, in the style of
// coder/websocket's internal/test/assert: each function marks itself as a
// helper, so a failure points at the calling line, and stops the test.
//
// It is for the project's own tests only; it imports nothing but the standard
// library (and not package shared, so that shared's own tests can use it).
// Arguments are always in the order got, want.
package assert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Equal fails the test unless got and want are deeply equal.
func Equal[T any](t testing.TB, name string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got: %#v\nwant: %#v", name, got, want)
	}
}

// True fails the test unless ok is true.
func True(t testing.TB, name string, ok bool) {
	t.Helper()
	if !ok {
		t.Fatalf("%s: want true", name)
	}
}

// NoError fails the test if err is not nil.
func NoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// ErrorIs fails the test unless err wraps target and its message contains
// every one of parts.
func ErrorIs(t testing.TB, err, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one wrapping %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// Contains fails the test unless s contains sub.
func Contains(t testing.TB, name, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s: %q does not contain %q", name, s, sub)
	}
}
