//go:build js && wasm

package jsbind

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a test leaves one of this package's goroutines
// behind (a fetch reader, a dial, a credentials load): closing a connection
// must end them all.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks, leaked := leakedGoroutines(); leaked {
			println("leaked goroutines:\n" + stacks)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() (string, bool) {
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "wasm/transport/jsbind.") && !strings.Contains(g, "leakedGoroutines") &&
				!strings.Contains(g, "TestMain") {
				leaked = true
			}
		}
		if !leaked {
			return "", false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stacks, true
}
