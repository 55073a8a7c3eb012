//go:build linux

package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What an idle subscriber costs the server: BenchmarkIdleConnections opens
// idleConns connections per wire from a child process (so that the clients'
// memory is not counted), waits until
// every one has its hello, and reports the server's growth per connection:
// RSS (what the target "≤ 20 KiB per idle subscriber" is about), Go heap in
// use, goroutine stacks, and goroutines. The connections are spread over 64
// channels; "mixed" is half SSE, half WebSocket. Heartbeats run at their
// default period. The numbers are reported, never asserted.
//
//	go test -run '^$' -bench IdleConnections -benchtime 1x ./server/
//	DUET_IDLE_CONNS=50000 DUET_IDLE_HOLD=40s go test -run '^$' -bench IdleConnections/mixed -benchtime 1x -timeout 20m ./server/

// idleConns is how many connections per wire; DUET_IDLE_CONNS overrides it.
func idleConns() int { return envInt("DUET_IDLE_CONNS", 2000) }

// idleClientEnv tells the re-executed test binary to act as the client
// process: "wire addr n".
const idleClientEnv = "DUET_IDLE_CLIENT"

func BenchmarkIdleConnections(b *testing.B) {
	for _, wire := range []string{"sse", "ws", "mixed"} {
		b.Run(wire, func(b *testing.B) {
			n := idleConns()
			if limit, ok := raiseHardFileLimit(uint64(n) + 512); !ok {
				b.Skipf("needs %d file descriptors, the limit is %d (raising the hard limit needs CAP_SYS_RESOURCE)", n+512, limit)
			}
			// No connection caps: the client process dials from one address.
			ts := newTestServer(b, Config{Logger: quietLogger(), MaxConnections: -1, MaxConnectionsPerIP: -1}, MemoryConfig{})
			for range b.N { // one measurement takes seconds: run with -benchtime 1x
				measureIdle(b, ts, wire, n)
			}
		})
	}
}

func measureIdle(b *testing.B, ts *testServer, wire string, n int) {
	before := idleSnapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIdleClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleClientEnv+"="+wire+" "+ts.addr()+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close() // the client process closes its connections and exits
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if line := sc.Text(); line == "ready" {
			ready = true
			break
		} else if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "---") {
			b.Log(line)
		}
	}
	if !ready {
		b.Fatalf("the client process did not get its %d connections up", n)
	}
	established := time.Since(start)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	wantSSE, wantWS := int64(n), int64(0)
	switch wire {
	case "ws":
		wantSSE, wantWS = 0, int64(n)
	case "mixed":
		wantSSE, wantWS = int64(n/2), int64(n-n/2)
	}
	ts.waitMetric(b, sseConnsMetric, time.Minute, equals(wantSSE))
	ts.waitMetric(b, wsConnsMetric, time.Minute, equals(wantWS))
	time.Sleep(time.Second) // let the last handshakes' garbage become garbage
	after := idleSnapshot()
	// DUET_IDLE_HOLD keeps the connections open for a while with heartbeats
	// running (try it past the 15s heartbeat): every one must survive.
	if hold, err := time.ParseDuration(os.Getenv("DUET_IDLE_HOLD")); err == nil && hold > 0 {
		time.Sleep(hold)
		m := ts.metrics(b)
		if m[sseConnsMetric] != wantSSE || m[wsConnsMetric] != wantWS {
			b.Fatalf("after %v: %d SSE and %d WebSocket connections, want %d and %d", hold, m[sseConnsMetric], m[wsConnsMetric], wantSSE, wantWS)
		}
		b.ReportMetric(float64(m["duet_heartbeat_timeouts_total"]+m["duet_write_errors_total"]), "lost-conns")
		if rss, ok := residentBytes(); ok {
			b.ReportMetric(float64(rss)/(1<<20), "held-rss-MiB")
		}
	}
	if dir := os.Getenv("DUET_IDLE_HEAPPROFILE"); dir != "" { // a directory: where the idle heap goes
		writeHeapProfile(b, dir+"/idle-"+wire+".pprof")
	}

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	b.ReportMetric(per(after.rss, before.rss), "rss-B/conn")
	b.ReportMetric(per(after.heap, before.heap), "heap-B/conn")
	b.ReportMetric(per(after.stack, before.stack), "stack-B/conn")
	b.ReportMetric(per(after.goroutines, before.goroutines), "goroutines/conn")
	b.ReportMetric(float64(n)/established.Seconds(), "conns/s")
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

type idleUsage struct{ rss, heap, stack, goroutines uint64 }

// idleSnapshot measures the process after a full collection that returns
// free memory to the OS, so RSS counts what is live.
func idleSnapshot() idleUsage {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := residentBytes()
	return idleUsage{rss: uint64(rss), heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: uint64(runtime.NumGoroutine())}
}

// raiseHardFileLimit is raiseFileLimit that also raises the hard limit when
// the process may (as root).
func raiseHardFileLimit(need uint64) (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Max < need {
		lim.Max = need
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return raiseFileLimit(need)
}

// TestIdleClientProcess is the client side of BenchmarkIdleConnections, run
// in a child process; it does nothing in an ordinary test run. It holds n
// connections, answers WebSocket pings, prints "ready" once every
// connection has its hello, and closes them all when stdin ends.
func TestIdleClientProcess(t *testing.T) {
	spec := strings.Fields(os.Getenv(idleClientEnv))
	if len(spec) != 3 {
		t.Skip("runs only as BenchmarkIdleConnections' client process")
	}
	wire, addr := spec[0], spec[1]
	n, err := strconv.Atoi(spec[2])
	if err != nil {
		t.Fatal(err)
	}
	if limit, ok := raiseHardFileLimit(uint64(n) + 512); !ok {
		t.Fatalf("needs %d file descriptors, the limit is %d", n+512, limit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var conns []net.Conn
	var readers, hellos sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	for i := range n {
		// Spread the connections over source addresses: one address has
		// some 28k ephemeral ports.
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/20000))}}
		hellos.Add(1)
		hello := sync.OnceFunc(hellos.Done)
		var conn net.Conn
		var read func()
		channel := "idle-" + strconv.Itoa(i%64)
		w := wire
		if w == "mixed" {
			w = [2]string{"sse", "ws"}[i%2]
		}
		switch w {
		case "sse":
			c, resp, err := rawSSE(ctx, d, addr, "channel="+channel)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			conn = c
			read = func() {
				br := bufio.NewReaderSize(resp.Body, 512)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil && err != bufio.ErrBufferFull {
						hello()
						return
					}
					if len(line) == 1 { // the end of an event: the first is the hello
						hello()
					}
				}
			}
		default:
			raw, err := dialRawWS(ctx, d, addr)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			// A small reader, with what the handshake's reader holds.
			held, _ := raw.br.Peek(raw.br.Buffered())
			raw.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(held)), raw.conn), 512)
			conn = raw.conn
			if err := raw.writeFrame(opText, []byte(`{"type":"subscribe","channels":["`+channel+`"]}`)); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			read = func() {
				buf := make([]byte, 0, 512)
				for {
					op, p, err := raw.readFrame(buf)
					if err != nil {
						hello()
						return
					}
					switch op {
					case opText:
						if bytes.Contains(p, []byte(`"type":"subscribed"`)) {
							hello()
						}
					case opPing:
						_ = raw.writeFrame(opPong, p)
					}
				}
			}
		}
		conns = append(conns, conn)
		readers.Add(1)
		go func() {
			defer readers.Done()
			read()
		}()
	}
	hellos.Wait()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// residentBytes reads the process's RSS from /proc (Linux only).
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
