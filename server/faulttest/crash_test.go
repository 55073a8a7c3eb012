package faulttest

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// The crash tests run bin/duet, built from this tree, kill it with SIGKILL
// while a publisher posts numbered messages, restart it, and check what the
// honest clients (SSE and WebSocket, resuming with their last id) ended up
// with: with the in-memory broker the crash loses the history, and every
// client must be told so by a gap notice; with NATS JetStream nothing may
// be lost and no gap reported. Lost without notice, duplicated and
// reordered must be zero in both.

// TestCrashRestartMemory: one node with the in-memory broker, killed and
// restarted on the same port mid-stream.
func TestCrashRestartMemory(t *testing.T) {
	faultRun(t)
	bin := buildDuet(t)
	port := freePort(t)
	node := startNode(t, bin, port)
	clients, stopClients := honestClients(t, "crash", node.url)
	// A third client goes away at message 100 and comes back after the
	// restart: what it missed before the crash is gone with the history,
	// and it must hear so.
	away := newHonest("honest ws, away during the crash", "ws", node.url)
	awayCtx, leave := context.WithCancel(context.Background())
	awayDone := make(chan struct{})
	go func() { defer close(awayDone); away.run(awayCtx, "crash") }()
	<-away.ready
	pub := newPublisher(node.url)
	pub.run(t, 1, 100, append(clients, away))
	leave()
	<-awayDone
	awayHigh := away.analyze(pub.isAcked, 0, nil).high
	pub.run(t, 101, 150, nil)
	t.Logf("SIGKILL the node (pid %d) after message 150", node.cmd.Process.Pid)
	node.kill()
	pub.run(t, 151, 170, nil) // all fail: the node is down
	if pub.failed != 20 || len(pub.acked) != 150 {
		t.Errorf("publisher: %d acknowledged, %d refused after posting 1..170 with the node down from 151; want 150 and 20", len(pub.acked), pub.failed)
	}
	node = startNode(t, bin, port)
	pub.run(t, 171, 300, nil)
	if pub.failed != 20 || len(pub.acked) != 280 {
		t.Errorf("publisher: %d acknowledged, %d refused after the restart; want 280 and 20", len(pub.acked), pub.failed)
	}
	backCtx, stopAway := context.WithCancel(context.Background())
	backDone := make(chan struct{})
	go func() { defer close(backDone); away.run(backCtx, "crash") }()
	defer func() { stopAway(); <-backDone }()
	clients = append(clients, away)
	last := pub.lastAcked()
	for _, h := range clients {
		h.waitFor(t, last, waitTimeout)
	}
	stopClients()
	stopAway()
	<-backDone
	pub.close()
	// What the crash may have taken: the messages stored before it. Those
	// published after the restart must all arrive, gap or no gap.
	beforeCrash := func(n int) bool { return n <= 150 }
	// The away client missed everything after the last it had when it
	// left, up to the crash: each must be announced by its gap notice.
	missed := 0
	for n := awayHigh + 1; n <= 150; n++ {
		if pub.isAcked(n) {
			missed++
		}
	}
	if tl := away.analyze(pub.isAcked, last, beforeCrash); tl.lostNoticed != missed || missed == 0 {
		t.Errorf("%s: %v; it left after message %d, so the gap must announce the %d acknowledged messages up to 150", away.name, tl, awayHigh, missed)
	}
	for _, h := range clients {
		tl := h.analyze(pub.isAcked, last, beforeCrash)
		t.Logf("in-memory crash, %s: %v", h.name, tl)
		if tl.lost+tl.duplicated+tl.reordered > 0 || len(tl.refused) > 0 {
			t.Errorf("%s: %v; refused: %v", h.name, tl, tl.refused)
		}
		if tl.gaps == 0 {
			t.Errorf("%s: resumed across a restart of the in-memory broker without a gap notice", h.name)
		}
	}
	t.Logf("publisher: %d acknowledged, %d failed while the node was down", len(pub.acked), pub.failed)
}

// TestCrashRestartNATS: two nodes over one NATS JetStream stream. The node
// holding the honest clients is killed mid-stream; they fail over to the
// other node and resume; the killed node restarts and takes publishes
// again. No gap, nothing lost.
func TestCrashRestartNATS(t *testing.T) {
	faultRun(t)
	bin := buildDuet(t)
	ns := startNATS(t)
	ports := [2]int{freePort(t), freePort(t)}
	a := startNode(t, bin, ports[0], "-nats", ns.ClientURL())
	b := startNode(t, bin, ports[1], "-nats", ns.ClientURL())
	// Clients try node A first, then B on reconnect, and so on.
	clients, stopClients := honestClients(t, "crash", a.url, b.url)
	pub := newPublisher(a.url, b.url)
	pub.run(t, 1, 150, clients)
	t.Logf("SIGKILL node A (pid %d) after message 150", a.cmd.Process.Pid)
	a.kill()
	pub.run(t, 151, 250, nil)
	a = startNode(t, bin, ports[0], "-nats", ns.ClientURL())
	pub.run(t, 251, 400, nil)
	last := pub.lastAcked()
	for _, h := range clients {
		h.waitFor(t, last, waitTimeout)
	}
	stopClients()
	pub.close()
	for _, h := range clients {
		tl := h.analyze(pub.isAcked, last, nil)
		t.Logf("NATS node crash, %s: %v", h.name, tl)
		if tl.lost+tl.lostNoticed+tl.duplicated+tl.reordered+tl.gaps > 0 || len(tl.refused) > 0 {
			t.Errorf("%s: %v; refused: %v", h.name, tl, tl.refused)
		}
		if tl.reconnects == 0 {
			t.Errorf("%s: never reconnected, so the crash did not reach it", h.name)
		}
	}
	t.Logf("publisher: %d acknowledged, %d failed (posted to the dead node)", len(pub.acked), pub.failed)
}

// node is a running bin/duet.
type node struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// buildDuet builds ./server/cmd/duet into the test's temporary directory.
func buildDuet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "duet")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./server/cmd/duet")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./server/cmd/duet: %v\n%s", err, out)
	}
	return bin
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode starts bin/duet on 127.0.0.1:port and waits until it is healthy.
func startNode(t *testing.T, bin string, port int, args ...string) *node {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args = append([]string{"-addr", addr, "-heartbeat", "1s", "-write-timeout", "1s"}, args...)
	cmd := exec.Command(bin, args...)
	out := &strings.Builder{}
	var outMu sync.Mutex
	cmd.Stdout = lockedWriter{&outMu, out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			outMu.Lock()
			t.Logf("node %s output:\n%s", addr, out.String())
			outMu.Unlock()
		}
	})
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(waitTimeout)
	for {
		if resp, err := client.Get(n.url + "/rt/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case <-n.done:
			t.Fatalf("node %s exited before it was ready", addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not healthy within %v", addr, waitTimeout)
		}
	}
}

// kill sends SIGKILL, as a crash would, and waits until the process is gone.
func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	<-n.done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startNATS starts an embedded NATS server with JetStream on loopback.
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		t.Fatal("NATS did not become ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// publisher posts {"n":N} to "crash", round robin over its nodes. A failed
// post is not retried (a retry could store a number twice): its number is
// simply not acknowledged, and the analysis does not expect it.
type publisher struct {
	urls   []string
	client *http.Client
	acked  map[int]string
	failed int
	last   int
}

func newPublisher(urls ...string) *publisher {
	return &publisher{urls: urls, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}, acked: map[int]string{}}
}

// run posts from..to, 10 ms apart. With clients given, it first waits until
// they have the first message, so that they are streaming before a crash.
func (p *publisher) run(t *testing.T, from, to int, clients []*honest) {
	t.Helper()
	for n := from; n <= to; n++ {
		url := p.urls[n%len(p.urls)]
		body := `{"channel":"crash","data":{"n":` + strconv.Itoa(n) + `}}`
		resp, err := p.client.Post(url+"/rt/publish", "application/json", strings.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.acked[n] = string(b)
			} else {
				p.failed++
			}
		} else {
			p.failed++
		}
		if n == from {
			for _, h := range clients {
				h.waitFor(t, n, waitTimeout)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.last = max(p.last, to)
}

func (p *publisher) isAcked(n int) bool { _, ok := p.acked[n]; return ok }

func (p *publisher) lastAcked() int {
	for n := p.last; n > 0; n-- {
		if p.isAcked(n) {
			return n
		}
	}
	return 0
}

func (p *publisher) close() { p.client.CloseIdleConnections() }
