package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/duet-rt/duet/server"
)

// TestAuthFlagsOneKey: two JWT key flags are refused rather than one of
// them silently winning.
func TestAuthFlagsOneKey(t *testing.T) {
	var f authFlags
	fs := flag.NewFlagSet("duet", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"-jwt-public-key", "key.pem", "-jwt-jwks", "jwks.json", "-jwt-aud", "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.apply(&server.Config{}, "localhost:8080", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "one JWT key") {
		t.Fatalf("two key flags: err %v, want a refusal", err)
	}
}
