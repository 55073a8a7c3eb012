package eventsource_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a Source's
// Run must end with its context or Close.
func TestMain(m *testing.M) {
	// Under js/wasm the runtime parks the goroutine of the JavaScript event
	// in flight in runtime.handleEvent (runtime/lock_js.go) until the event
	// returns to JavaScript: the runtime's, not a test's. A goroutine a test
	// starts never has that frame in its stack.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
