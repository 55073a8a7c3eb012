package faulttest

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// server connection, adversary, honest client and proxy pump must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// faultRun skips t unless the fault suite was asked for: it is slow (a
// minute or two) and has its own task.
func faultRun(t *testing.T) {
	t.Helper()
	if os.Getenv("DUET_FAULT") != "1" {
		t.Skip("fault suite: run it with `go tool task fault` (DUET_FAULT=1)")
	}
}
