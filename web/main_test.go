package web

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the test
// servers, the demo's generators).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
