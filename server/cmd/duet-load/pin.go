package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pinning puts the server under test on its own cores and the generator
// (this process: subscribers and publishers) on the others, so that
// deliveries/s is what the server's cores deliver and latency is not the
// generator's scheduling. The server runs with GOMAXPROCS equal to its
// cores (Duet, bare and Centrifugo are all Go programs).
type pinning struct {
	server    unix.CPUSet
	generator unix.CPUSet
	serverN   int
	genN      int
	serverCPU string // the server's CPUs as a list, e.g. "1" or "2,3"
	text      string // e.g. "server on CPU 1 (GOMAXPROCS=1), generator on CPU 0"
}

// parseCPUList parses "1", "0,2" or "0-3".
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, f)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CPU list %q is empty", s)
	}
	return out, nil
}

// newPinning gives the server the CPUs in serverCPUs ("" means the last
// CPU this process may use) and the generator every other CPU it may use.
func newPinning(serverCPUs string) (*pinning, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := range 1024 {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return nil, fmt.Errorf("-pin needs at least 2 CPUs, this process may use %d", len(cpus))
	}
	want := []int{cpus[len(cpus)-1]}
	if serverCPUs != "" {
		var err error
		if want, err = parseCPUList(serverCPUs); err != nil {
			return nil, err
		}
	}
	p := &pinning{}
	for _, c := range want {
		if !allowed.IsSet(c) {
			return nil, fmt.Errorf("-server-cpus: CPU %d is not one this process may use (%v)", c, cpus)
		}
		p.server.Set(c)
	}
	var gen []string
	for _, c := range cpus {
		if !p.server.IsSet(c) {
			p.generator.Set(c)
			gen = append(gen, strconv.Itoa(c))
		}
	}
	p.serverN, p.genN = p.server.Count(), p.generator.Count()
	if p.genN == 0 {
		return nil, fmt.Errorf("-server-cpus %s leaves no CPU for the generator", serverCPUs)
	}
	var srv []string
	for _, c := range want {
		srv = append(srv, strconv.Itoa(c))
	}
	p.serverCPU = strings.Join(srv, ",")
	p.text = fmt.Sprintf("server on CPU %s (GOMAXPROCS=%d), generator on CPU %s (GOMAXPROCS=%d)",
		p.serverCPU, p.serverN, strings.Join(gen, ","), p.genN)
	return p, nil
}

// pinGenerator moves every thread of this process to the generator's CPUs
// (threads started later inherit the mask of the thread that starts them)
// and sets GOMAXPROCS to match.
func (p *pinning) pinGenerator() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &p.generator); err != nil && err != unix.ESRCH {
			return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
		}
	}
	runtime.GOMAXPROCS(p.genN)
	return nil
}

// startOnServerCPUs runs start (which forks the server) on a thread whose
// mask is the server's for the moment: a child inherits the mask of the
// thread that forks it, so every thread of the server, its first included,
// stays on the server's CPUs. The thread gets its own mask back after.
func (p *pinning) startOnServerCPUs(start func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	if err := unix.SchedSetaffinity(0, &p.server); err != nil {
		return fmt.Errorf("sched_setaffinity: %w", err)
	}
	err := start()
	if rerr := unix.SchedSetaffinity(0, &own); rerr != nil && err == nil {
		err = fmt.Errorf("sched_setaffinity: %w", rerr)
	}
	return err
}

// serverEnv is the environment of a pinned server: GOMAXPROCS its CPU count.
func (p *pinning) serverEnv() []string {
	return append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(p.serverN))
}

// setupPinning returns nil when on is false; else the pinning of
// serverCPUs, with this process already moved to the generator's CPUs.
func setupPinning(on bool, serverCPUs string) (*pinning, error) {
	if !on {
		return nil, nil
	}
	p, err := newPinning(serverCPUs)
	if err != nil {
		return nil, err
	}
	if err := p.pinGenerator(); err != nil {
		return nil, err
	}
	return p, nil
}

// capRate lowers a fixed-rate scenario's rate, when pinned, to 80 % of the
// lowest deliveries/s any server reached in the matching as-fast-as-possible
// scenario of this run (rate-5k-ws: fanout-5k-ws), if that is lower: the
// latency target is then taken at a rate every server's core sustains, the
// same for all of them.
func (p *pinning) capRate(sc scenario, done []*result) scenario {
	if p == nil || sc.Rate == 0 || !strings.HasPrefix(sc.Name, "rate-") {
		return sc
	}
	fanout := "fanout-" + strings.TrimPrefix(sc.Name, "rate-")
	lowest := 0.0
	for _, x := range done {
		if x.Scenario == fanout && x.Connected > 0 && x.DeliveriesPerSec > 0 && (lowest == 0 || x.DeliveriesPerSec < lowest) {
			lowest = x.DeliveriesPerSec
		}
	}
	if capped := 0.8 * lowest; lowest > 0 && capped < sc.Rate {
		fmt.Fprintf(os.Stderr, "  %s: rate lowered from %.0f to %.0f deliveries/s (80%% of the lowest %s)\n", sc.Name, sc.Rate, capped, fanout)
		sc.Rate = capped
	}
	return sc
}
