package transport

import (
	"testing"

	"github.com/duet-rt/duet/shared"
)

// errCode is the one assertion shared/assert cannot make: it needs package
// shared, which shared/assert must not import.
func errCode(t *testing.T, err error, want shared.Code) {
	t.Helper()
	code, ok := shared.ErrorCode(err)
	if !ok || code != want {
		t.Fatalf("error %v: code %d, want %d", err, code, want)
	}
}
