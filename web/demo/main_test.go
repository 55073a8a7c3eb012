package demo

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the
// generators, the tracked requests).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
