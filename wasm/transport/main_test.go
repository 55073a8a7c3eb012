package transport

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain checks that no test leaves a goroutine behind (the package
// starts none; this keeps it so).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(); err != nil {
			println(err.Error())
			code = 1
		}
	}
	if code != 0 {
		os.Exit(code)
	}
}

func checkGoroutines() error {
	var stacks string
	for i := 0; i < 50; i++ {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "duet/wasm/transport.") && !strings.Contains(g, "TestMain") &&
				!strings.Contains(g, "checkGoroutines") {
				leaked = true
			}
		}
		if !leaked {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("leaked goroutines:\n" + stacks)
}
