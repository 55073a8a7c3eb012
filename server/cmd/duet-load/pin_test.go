package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{
		{"1", []int{1}},
		{"0,2", []int{0, 2}},
		{"2-4", []int{2, 3, 4}},
		{"0, 3-4", []int{0, 3, 4}},
		{"", nil},
		{"x", nil},
		{"3-1", nil},
	} {
		got, err := parseCPUList(c.in)
		if (err != nil) != (c.want == nil) || !slices.Equal(got, c.want) {
			t.Fatalf("%q: got %v (%v), want %v", c.in, got, err, c.want)
		}
	}
}

// TestPinnedChild: a server started pinned runs on the server's CPU only,
// with GOMAXPROCS 1, and this process's thread keeps its own CPUs.
func TestPinnedChild(t *testing.T) {
	p, err := newPinning("")
	if err != nil {
		t.Skip(err) // one CPU: nothing to pin
	}
	dir := t.TempDir()
	before, _ := os.ReadFile("/proc/self/status")
	cmd, err := startChild(context.Background(), dir, p, "probe", "/bin/sh", "-c", `grep Cpus_allowed_list /proc/self/status; echo GOMAXPROCS=$GOMAXPROCS`)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var out []byte
	for time.Now().Before(deadline) {
		if out, _ = os.ReadFile(filepath.Join(dir, "probe.log")); strings.Contains(string(out), "GOMAXPROCS=") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopChild(cmd)
	if !strings.Contains(string(out), "Cpus_allowed_list:\t"+p.serverCPU+"\n") || !strings.Contains(string(out), "GOMAXPROCS=1\n") {
		t.Fatalf("child said %q, want CPU %s and GOMAXPROCS=1 (%s)", out, p.serverCPU, p.text)
	}
	after, _ := os.ReadFile("/proc/self/status")
	if allowed(before) != allowed(after) {
		t.Fatalf("this process's CPUs changed: %s → %s", allowed(before), allowed(after))
	}
}

func allowed(status []byte) string {
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Cpus_allowed_list:") {
			return l
		}
	}
	return ""
}

// TestCapRate: pinned, a fixed rate is lowered to 80 % of the slowest
// server's fan-out in the matching scenario; unpinned it stays.
func TestCapRate(t *testing.T) {
	done := []*result{
		{Scenario: "fanout-5k-ws", Target: "duet", Connected: 5000, DeliveriesPerSec: 90_000},
		{Scenario: "fanout-5k-ws", Target: "bare", Connected: 5000, DeliveriesPerSec: 60_000},
		{Scenario: "fanout-5k-sse", Target: "bare", Connected: 5000, DeliveriesPerSec: 200_000},
	}
	sc := scenario{Name: "rate-5k-ws", Rate: 100_000}
	if got := (*pinning)(nil).capRate(sc, done); got.Rate != 100_000 {
		t.Fatalf("unpinned: rate %v", got.Rate)
	}
	p := &pinning{}
	if got := p.capRate(sc, done); got.Rate != 48_000 {
		t.Fatalf("pinned: rate %v, want 48000", got.Rate)
	}
	sc.Name = "rate-5k-sse"
	if got := p.capRate(sc, done); got.Rate != 100_000 {
		t.Fatalf("pinned, fan-out above 125k: rate %v, want 100000", got.Rate)
	}
}

// TestSpliceReadme: the section between the markers is replaced, the rest
// of the file kept.
func TestSpliceReadme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	doc := "# T\n\nbefore\n<!-- duet-load:pinned -->\nold table\n<!-- /duet-load:pinned -->\nafter\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &report{Machine: map[string]any{"cpus": 2}, Command: "duet-load -pin", Pinned: "server on CPU 1 (GOMAXPROCS=1), generator on CPU 0 (GOMAXPROCS=1)",
		Results: []*result{{Scenario: "fanout-1k-sse", Target: "duet", Connected: 1000, DeliveriesPerSec: 123456}}}
	if err := spliceReadme(path+":pinned", "results/bench-pinned.svg", r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if strings.Contains(s, "old table") || !strings.Contains(s, "| fanout-1k-sse | duet | 1000 | 123.5k |") ||
		!strings.HasPrefix(s, "# T\n\nbefore\n<!-- duet-load:pinned -->\n") || !strings.HasSuffix(s, "<!-- /duet-load:pinned -->\nafter\n") ||
		!strings.Contains(s, "pinned: server on CPU 1") || !strings.Contains(s, "![bench-pinned](results/bench-pinned.svg)") {
		t.Fatalf("spliced:\n%s", s)
	}
	if err := spliceReadme(path+":other", "", r); err == nil {
		t.Fatal("no error for a missing section")
	}
}
