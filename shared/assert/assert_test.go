package assert_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

// recorder is a testing.TB whose Fatalf records the failure instead of
// stopping the test, so each helper can be shown to fail.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestHelpers(t *testing.T) {
	base := errors.New("base")
	wrapped := fmt.Errorf("duet/x: doing y: %w", base)
	tests := []struct {
		name string
		call func(testing.TB)
		fail bool
	}{
		{"equal", func(tb testing.TB) { assert.Equal(tb, "n", []int{1}, []int{1}) }, false},
		{"not equal", func(tb testing.TB) { assert.Equal(tb, "n", 1, 2) }, true},
		{"true", func(tb testing.TB) { assert.True(tb, "n", true) }, false},
		{"false", func(tb testing.TB) { assert.True(tb, "n", false) }, true},
		{"no error", func(tb testing.TB) { assert.NoError(tb, nil) }, false},
		{"error", func(tb testing.TB) { assert.NoError(tb, base) }, true},
		{"error is", func(tb testing.TB) { assert.ErrorIs(tb, wrapped, base, "doing y") }, false},
		{"error is nil", func(tb testing.TB) { assert.ErrorIs(tb, nil, base) }, true},
		{"error is other", func(tb testing.TB) { assert.ErrorIs(tb, errors.New("x"), base) }, true},
		{"error lacks part", func(tb testing.TB) { assert.ErrorIs(tb, wrapped, base, "nope") }, true},
		{"contains", func(tb testing.TB) { assert.Contains(tb, "n", "abc", "b") }, false},
		{"lacks", func(tb testing.TB) { assert.Contains(tb, "n", "abc", "d") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tt.call(r)
			if got := r.failed != ""; got != tt.fail {
				t.Fatalf("failed = %v (%q), want %v", got, r.failed, tt.fail)
			}
		})
	}
}
