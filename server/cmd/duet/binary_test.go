package main

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runBinaryEnv set to 1 makes the test binary run main instead of the tests
// (see TestMain): startBinary runs bin/duet without building it.
const runBinaryEnv = "DUET_TEST_RUN_BINARY"

// binary is bin/duet running in a child process.
type binary struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startBinary runs bin/duet with args and extra environment variables until
// the test ends (then SIGTERM, and its log if the test failed).
func startBinary(t *testing.T, env []string, args ...string) *binary {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runBinaryEnv+"=1"), env...)
	b := &binary{cmd: cmd, out: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bin/duet: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.stop(t)
		if t.Failed() {
			t.Logf("bin/duet %v:\n%s", args, b.out.String())
		}
	})
	return b
}

func (b *binary) stop(t *testing.T) {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		t.Errorf("bin/duet did not stop on SIGTERM")
	}
}

// syncBuffer is a bytes.Buffer safe for a child's two output streams.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
