package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// connection's reader, writer and pinger, every broker janitor, every test
// client must be gone once the tests are done.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
