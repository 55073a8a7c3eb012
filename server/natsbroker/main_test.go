package natsbroker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the live
// feed, the status watcher, replay fetches, the embedded NATS servers and
// the end-to-end test's clients must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
