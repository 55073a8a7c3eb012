//go:build !js

package natsbroker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server/internal/devcert"
	"github.com/duet-rt/duet/server/natsbroker/internal/cluster"
	"github.com/duet-rt/duet/shared"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sse "github.com/tmaxmax/go-sse"
)

// TestCluster is the end-to-end test of scale-out: NATS, two bin/duet nodes
// and nginx with the reference configuration (server/cmd/duet/nginx.conf),
// round robin without sticky sessions. Subscribers stream on both wires
// through nginx while a publisher posts numbered messages through nginx;
// one node is killed with SIGKILL mid-stream, and later NATS restarts. Every
// subscriber must end up with every stored message, in order, exactly
// once, and no gap notice.
//
// It needs nginx (`go tool task test:cluster` installs it) and is skipped
// without it, except in CI (CI set, as CI services and .ci/run set it)
// or with DUET_CLUSTER_TEST=1 (as that task sets), where a missing nginx
// fails it; and in -short mode.
func TestCluster(t *testing.T) {
	testCluster(t, "nginx.conf", false)
}

// TestClusterTLS is TestCluster through the reference configuration with
// TLS and HTTP/2 at nginx (server/cmd/duet/nginx-tls.conf): SSE streams and
// publishes multiplexed on HTTP/2 connections to nginx, WebSockets on
// HTTP/1.1 over TLS, nginx to the nodes in plain HTTP/1.1.
func TestClusterTLS(t *testing.T) {
	testCluster(t, "nginx-tls.conf", true)
}

func testCluster(t *testing.T, nginxConf string, tlsOn bool) {
	nginx := needNginx(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := cluster.Config{
		NginxConf: filepath.Join(moduleRoot(t), "server", "cmd", "duet", nginxConf),
		// Short heartbeats so that they cross nginx during the test. The
		// nodes trust nginx's X-Forwarded-Proto, as DEPLOYMENT.md says
		// they must: with TLS at nginx the WebSocket origin check needs
		// the scheme the client used.
		NodeArgs: []string{"-heartbeat", "2s", "-write-timeout", "2s", "-trusted-proxies", "127.0.0.1/32"},
	}
	// Clients: HTTP/2 where the server offers it (SSE, publishes), HTTP/1.1
	// for WebSocket upgrades.
	transport := &http.Transport{}
	wsClient := http.DefaultClient
	if tlsOn {
		var err error
		cfg.CertFile, cfg.KeyFile, err = devcert.WriteFiles(t.TempDir(), []string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		pem, err := os.ReadFile(cfg.CertFile)
		if err != nil || !roots.AppendCertsFromPEM(pem) {
			t.Fatalf("certificate: %v", err)
		}
		transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
		wsTransport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}} // HTTP/1.1 only
		t.Cleanup(wsTransport.CloseIdleConnections)
		wsClient = &http.Client{Transport: wsTransport}
	}
	c := startCluster(ctx, t, nginx, cfg)

	t.Cleanup(transport.CloseIdleConnections)
	protos := &protoCounter{next: transport}
	channels := []string{"e2e", "e2e:b.c"}
	clientsCtx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		stopClients()
		wg.Wait()
	})
	var subs []*subscriber
	for _, wire := range []string{"sse", "ws"} {
		for i := range 3 {
			s := newSubscriber(wire + strconv.Itoa(i+1))
			subs = append(subs, s)
			wg.Go(func() {
				if wire == "sse" {
					s.runSSE(clientsCtx, protos, c.URL(), channels)
				} else {
					s.runWS(clientsCtx, wsClient, c.URL(), channels)
				}
			})
			// One at a time, so that round robin puts three consecutive
			// subscribers of each wire on alternate nodes.
			select {
			case <-s.ready:
			case <-ctx.Done():
				t.Fatalf("%s never connected", s.name)
			}
		}
	}

	// The publisher posts 1…total through nginx, one at a time, retrying
	// failures (a retry may store a message twice: the checks allow it
	// only for numbers whose attempt failed ambiguously).
	const total, killAt, restartAt = 240, 80, 160
	pub := &publisher{client: &http.Client{Transport: protos, Timeout: 10 * time.Second}, url: c.URL()}
	var restartDone chan error
	for n := 1; n <= total; n++ {
		pub.publish(ctx, t, channels[n%2], n)
		switch n {
		case killAt:
			t.Logf("%v: SIGKILL node 1 (pid %d)", time.Since(start).Round(time.Millisecond), c.NodePID(0))
			if err := c.KillNode(0); err != nil {
				t.Fatal(err)
			}
		case restartAt:
			t.Logf("%v: restarting NATS", time.Since(start).Round(time.Millisecond))
			restartDone = make(chan error, 1)
			go func() { restartDone <- c.NATS.Restart(time.Second) }()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-restartDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: published %d messages (%d attempts failed)", time.Since(start).Round(time.Millisecond), total, pub.failures)

	truth := readStream(ctx, t, c.NATS.URL())
	last := truth[len(truth)-1].ID
	for _, s := range subs {
		s.waitFor(ctx, t, last)
	}
	t.Logf("%v: every subscriber has %s", time.Since(start).Round(time.Millisecond), last)

	// The stream holds every acknowledged publish, numbers in order; a
	// number appears twice only if one of its attempts failed after it may
	// have been stored.
	byID := make(map[string]received, len(truth))
	for i, m := range truth {
		byID[m.ID] = m
		if i > 0 && m.N < truth[i-1].N {
			t.Fatalf("stream: %d stored after %d", m.N, truth[i-1].N)
		}
		if i > 0 && m.N == truth[i-1].N && !pub.ambiguous[m.N] {
			t.Fatalf("stream: %d stored twice, but its publish never failed", m.N)
		}
	}
	for n, id := range pub.acked {
		if m, ok := byID[id]; !ok || m.N != n {
			t.Fatalf("publish %d acknowledged as %s, the stream has %+v", n, id, m)
		}
	}
	if len(pub.acked) != total {
		t.Fatalf("%d publishes acknowledged, want %d", len(pub.acked), total)
	}

	reconnected := map[string]int{}
	for _, s := range subs {
		s.mu.Lock()
		got, gaps, reconnects, fatal := s.got, s.gaps, s.reconnects, s.fatal
		s.mu.Unlock()
		if fatal != nil {
			t.Errorf("%s: %v", s.name, fatal)
		}
		if len(gaps) > 0 {
			t.Errorf("%s: gap notices: %v", s.name, gaps)
		}
		if !slices.Equal(got, truth) {
			t.Errorf("%s: received %d messages, the stream has %d; first difference: %s", s.name, len(got), len(truth), firstDifference(truth, got))
		}
		if reconnects > 0 {
			reconnected[s.name[:len(s.name)-1]]++
		}
		t.Logf("%s: %d messages, %d reconnects", s.name, len(got), reconnects)
	}
	// Round robin put subscribers of each wire on the killed node.
	if reconnected["sse"] == 0 || reconnected["ws"] == 0 {
		t.Errorf("want reconnects on both wires after the kill, got %v", reconnected)
	}
	h2, h1 := protos.h2.Load(), protos.h1.Load()
	t.Logf("SSE and publish responses: %d over HTTP/2, %d over HTTP/1.1", h2, h1)
	if tlsOn && (h2 == 0 || h1 != 0) {
		t.Errorf("over TLS, want every SSE and publish response on HTTP/2: %d on HTTP/2, %d on HTTP/1.1", h2, h1)
	}
}

// protoCounter counts the responses of next by HTTP version.
type protoCounter struct {
	next   http.RoundTripper
	h2, h1 atomic.Int64
}

func (p *protoCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err == nil {
		if resp.ProtoMajor == 2 {
			p.h2.Add(1)
		} else {
			p.h1.Add(1)
		}
	}
	return resp, err
}

// received is one message as a subscriber (or the stream) has it.
type received struct {
	ID      string
	Channel string
	N       int
}

// needNginx returns nginx's path, or skips the test without it (unless
// DUET_CLUSTER_TEST=1, as `go tool task test:cluster` sets) and in -short
// mode.
func needNginx(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test: skipped in -short mode")
	}
	nginx := findNginx()
	if nginx == "" {
		if os.Getenv("DUET_CLUSTER_TEST") == "1" || os.Getenv("CI") != "" {
			t.Fatal("cluster test: nginx is not installed (needed in CI and with DUET_CLUSTER_TEST=1)")
		}
		t.Skip("cluster test: skipped, nginx is not installed (apt-get install nginx, or run `go tool task test:cluster`)")
	}
	return nginx
}

// startCluster builds bin/duet and starts a cluster of two nodes behind
// nginx with cfg (its Dir, Bin, NginxConf, Nginx and Output are set here),
// stopped when the test ends; its output is logged if the test fails.
func startCluster(ctx context.Context, t *testing.T, nginx string, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	start := time.Now()
	root := moduleRoot(t)
	bin := filepath.Join(t.TempDir(), "duet")
	build := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./server/cmd/duet")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./server/cmd/duet: %v\n%s", err, out)
	}
	t.Logf("built bin/duet in %v", time.Since(start).Round(time.Millisecond))
	logs := &syncBuffer{}
	cfg.Dir, cfg.Bin, cfg.Output, cfg.Nginx = t.TempDir(), bin, logs, nginx
	if cfg.NginxConf == "" {
		cfg.NginxConf = filepath.Join(root, "server", "cmd", "duet", "nginx.conf")
	}
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("cluster output:\n%s", logs.String())
		}
	})
	return c
}

func firstDifference(want, got []received) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("at %d: want %+v, got %+v", i, want[i], got[i])
		}
	}
	if len(got) < len(want) {
		return fmt.Sprintf("missing from %+v", want[len(got)])
	}
	return fmt.Sprintf("extra %+v", got[len(want)])
}

func decodeReceived(env shared.Envelope) (received, error) {
	var data struct{ N int }
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return received{}, err
	}
	return received{ID: env.ID, Channel: env.Channel, N: data.N}, nil
}

// subscriber is one reconnecting client of the cluster, on one wire.
type subscriber struct {
	name  string
	ready chan struct{} // closed when first connected

	mu         sync.Mutex // guards the fields below
	got        []received
	gaps       []string
	reconnects int
	fatal      error
	changed    chan struct{} // capacity 1
	readyOnce  sync.Once
}

func newSubscriber(name string) *subscriber {
	return &subscriber{name: name, ready: make(chan struct{}), changed: make(chan struct{}, 1)}
}

func (s *subscriber) connected() { s.readyOnce.Do(func() { close(s.ready) }) }

func (s *subscriber) record(env shared.Envelope) {
	m, err := decodeReceived(env)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.fatal = err
		return
	}
	s.got = append(s.got, m)
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *subscriber) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return ""
	}
	return s.got[len(s.got)-1].ID
}

func (s *subscriber) waitFor(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for s.last() != id {
		select {
		case <-s.changed:
		case <-ctx.Done():
			t.Fatalf("%s: waited for %s, last received %q", s.name, id, s.last())
		}
	}
}

// runSSE is a go-sse client: it reconnects by itself with Last-Event-ID.
// A response it does not accept ends Connect; then, for a 5xx (a node
// without NATS, nginx without a node), this loop connects again, from the
// last id, as a browser's Duet client would.
func (s *subscriber) runSSE(ctx context.Context, transport http.RoundTripper, base string, channels []string) {
	client := &sse.Client{
		HTTPClient: &http.Client{Transport: transport},
		Backoff:    sse.Backoff{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second},
		OnRetry: func(error, time.Duration) {
			s.mu.Lock()
			s.reconnects++
			s.mu.Unlock()
		},
	}
	q := "?channel=" + strings.Join(channels, "&channel=")
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rt/sse"+q, nil)
		if err != nil {
			s.fail(err)
			return
		}
		if last := s.last(); last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		conn := client.NewConnection(req)
		conn.SubscribeToAll(func(ev sse.Event) {
			switch ev.Type {
			case "duet.hello":
				s.connected()
			case "duet.gap":
				s.mu.Lock()
				s.gaps = append(s.gaps, ev.Data)
				s.mu.Unlock()
			case "message":
				env, err := shared.DecodeEnvelope([]byte(ev.Data))
				if err != nil {
					s.fail(err)
					return
				}
				s.record(env)
			}
		})
		err = conn.Connect()
		if ctx.Err() != nil {
			return
		}
		if !strings.Contains(err.Error(), "received 5") {
			s.fail(err)
			return
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		sleep(ctx, 200*time.Millisecond)
	}
}

// runWS is a WebSocket client that reconnects with backoff and resumes
// with lastEventId in its subscribe frame.
func (s *subscriber) runWS(ctx context.Context, client *http.Client, base string, channels []string) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/rt/ws"
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := s.wsSession(ctx, client, url, base, channels)
		if ctx.Err() != nil {
			return
		}
		if code, ok := shared.ErrorCode(err); ok && code.Action() == shared.ActionStop {
			s.fail(err)
			return
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		sleep(ctx, time.Duration(rand.Int64N(int64(200*time.Millisecond))))
	}
}

func (s *subscriber) wsSession(ctx context.Context, client *http.Client, url, origin string, channels []string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		HTTPClient:   client,
		Subprotocols: []string{shared.Protocol},
		// As a page served through nginx would: the node's origin check
		// then needs nginx to pass the client's Host through.
		HTTPHeader: http.Header{"Origin": {origin}},
	})
	cancel()
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "s", Channels: channels, LastEventID: s.last()}
	if err := ws.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &sub)); err != nil {
		return err
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			f, err := shared.DecodeFrame(line)
			if err != nil {
				return err
			}
			switch f.Type {
			case shared.TypeSubscribed:
				s.connected()
			case shared.TypeMessage:
				s.record(f.Envelope())
			case shared.TypeGap:
				s.mu.Lock()
				s.gaps = append(s.gaps, string(line))
				s.mu.Unlock()
			case shared.TypeError:
				return shared.NewError(f.Code, f.Message)
			case shared.TypePing:
				pong := shared.Frame{Type: shared.TypePong}
				if err := ws.Write(ctx, websocket.MessageText, shared.AppendFrame(nil, &pong)); err != nil {
					return err
				}
			}
		}
	}
}

func (s *subscriber) fail(err error) {
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
}

// publisher posts numbered messages and remembers what was acknowledged.
type publisher struct {
	client    *http.Client
	url       string
	acked     map[int]string // number → id
	ambiguous map[int]bool   // numbers with an attempt that failed after it may have been stored
	failures  int
}

func (p *publisher) publish(ctx context.Context, t *testing.T, channel string, n int) {
	t.Helper()
	if p.acked == nil {
		p.acked, p.ambiguous = map[int]string{}, map[int]bool{}
	}
	body := `{"channel":` + strconv.Quote(channel) + `,"data":{"n":` + strconv.Itoa(n) + `}}`
	for {
		id, err := p.post(ctx, body)
		if err == nil {
			p.acked[n] = id
			return
		}
		p.failures++
		p.ambiguous[n] = true
		if ctx.Err() != nil {
			t.Fatalf("publish %d: %v (last error %v)", n, ctx.Err(), err)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

func (p *publisher) post(ctx context.Context, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/rt/publish", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	var ack struct{ ID string }
	if err := json.Unmarshal(b, &ack); err != nil || ack.ID == "" {
		return "", fmt.Errorf("bad answer %q: %v", b, err)
	}
	return ack.ID, nil
}

// readStream reads every message of the DUET stream straight from
// JetStream: the ground truth the subscribers are held to.
func readStream(ctx context.Context, t *testing.T, url string) []received {
	t.Helper()
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := js.Stream(rctx, "DUET")
	if err != nil {
		t.Fatal(err)
	}
	info := stream.CachedInfo()
	epoch := uint64(info.Created.UnixMilli())
	cons, err := stream.OrderedConsumer(rctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for uint64(len(out)) < info.State.Msgs {
		msg, err := cons.Next(jetstream.FetchContext(rctx))
		if err != nil {
			t.Fatalf("reading the stream after %d of %d messages: %v", len(out), info.State.Msgs, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		env := shared.Envelope{
			ID:      shared.ID{Epoch: epoch, Seq: md.Sequence.Stream}.String(),
			Channel: unescape.Replace(strings.TrimPrefix(msg.Subject(), "duet.ch.")),
			Data:    msg.Data(),
		}
		m, err := decodeReceived(env)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Fatal("the stream is empty")
	}
	return out
}

// unescape reverses the broker's encoding of channels into subject tokens.
var unescape = strings.NewReplacer("=2E", ".", "=3D", "=")

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
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

// syncBuffer is a bytes.Buffer safe for the cluster's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
