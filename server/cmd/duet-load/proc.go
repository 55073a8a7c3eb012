package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseFileLimit lifts RLIMIT_NOFILE as far as it goes (to want when the
// process may raise its hard limit, as root can; else to the hard limit).
// Child servers inherit it. It returns the soft limit in force.
func raiseFileLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur >= want {
		return l.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(want, l.Max)}); err == nil {
		return want
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// procStats is what /proc says of a process.
type procStats struct {
	RSSKiB  int64
	Threads int64
	CPU     time.Duration // user + system
	User    time.Duration // the process's own code; CPU - User is the kernel's
	// Reads and Writes count the read- and write-family system calls
	// (/proc/<pid>/io syscr, syscw): on a socket server, about one write
	// per batch it sends.
	Reads, Writes int64
}

var clockTick = 100 // USER_HZ; 100 on every Linux of interest

// readProc reads /proc/<pid>/status, /proc/<pid>/stat and /proc/<pid>/io
// (the last only where permitted: Reads and Writes stay 0 otherwise).
func readProc(pid int) (procStats, error) {
	var s procStats
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io"); err == nil {
		s.Reads, s.Writes = parseProcIO(b)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.RSSKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			s.Threads, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state); utime is field 14, stime 15
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(ut+st) * time.Second / time.Duration(clockTick)
	s.User = time.Duration(ut) * time.Second / time.Duration(clockTick)
	return s, nil
}

// parseProcIO returns syscr and syscw from the text of /proc/<pid>/io.
func parseProcIO(b []byte) (reads, writes int64) {
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// scrapeGauge fetches a Prometheus text endpoint and returns the value of
// the first sample of name (without labels), e.g. go_goroutines.
func scrapeGauge(ctx context.Context, url, name string) (float64, error) {
	body, err := scrape(ctx, url)
	if err != nil {
		return 0, err
	}
	return parseGauge(body, name)
}

// scrape fetches a Prometheus text endpoint.
func scrape(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}

func parseGauge(body []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a longer name with this prefix
		}
		f := strings.Fields(rest)
		if rest[0] == '{' {
			f = strings.Fields(rest[strings.IndexByte(rest, '}')+1:])
		}
		if len(f) == 0 {
			continue
		}
		return strconv.ParseFloat(f[0], 64)
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
