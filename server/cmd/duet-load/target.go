package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A target is one server under test and how its wires look to a client.
type target struct {
	Name string // duet, centrifugo, bare

	// start runs the server on addr (127.0.0.1:port) as a child process,
	// on the server's CPUs when pin is set.
	start func(ctx context.Context, addr, dir string, pin *pinning) (*exec.Cmd, error)
	// url, when set, is an already running server: no child, no /proc figures.
	url string

	healthPath  string
	metricsPath string

	ssePath func(channel string, r *resumePoint) string
	wsPath  string
	wsProto string
	// wsHello is the first client message on WebSocket: a subscribe (Duet,
	// bare) or a connect command (Centrifugo).
	wsHello func(channel string, r *resumePoint) []byte
	// wsReady tells the frame that says the subscription is live.
	wsReady []byte

	publishPath    string
	publishHeaders map[string]string
	publishBody    func(b []byte, channel string, payload []byte) []byte
	// publishFailed tells a 200 answer that still reports an error.
	publishFailed func(body []byte) bool

	// resume reads, from a frame that held messages, where to resume: after
	// the last of them.
	resume func(line []byte, r *resumePoint)
	// connected reads, from the first frame, what resume needs (an epoch).
	connected func(frame []byte, r *resumePoint)
	canResume bool
	// extraArgs are more flags for the server (Duet: -duet-flags).
	extraArgs []string
}

// resumePoint is where a subscriber stands, in the target's terms.
type resumePoint struct {
	id     string // Duet: the last event id
	offset int64  // Centrifugo: the last offset and its epoch
	epoch  string
}

var (
	idKey    = []byte(`"id":"`)
	epochKey = []byte(`"epoch":"`)
)

func duetTarget(bin string) *target {
	t := &target{
		Name:        "duet",
		healthPath:  "/rt/healthz",
		metricsPath: "/metrics",
		ssePath: func(ch string, r *resumePoint) string {
			p := "/rt/sse?channel=" + url.QueryEscape(ch)
			if r != nil && r.id != "" {
				p += "&lastEventId=" + url.QueryEscape(r.id)
			}
			return p
		},
		wsPath:  "/rt/ws",
		wsProto: "duet.v1",
		wsHello: func(ch string, r *resumePoint) []byte {
			m := map[string]any{"type": "subscribe", "ref": "1", "channels": []string{ch}}
			if r != nil && r.id != "" {
				m["lastEventId"] = r.id
			}
			b, _ := json.Marshal(m)
			return b
		},
		wsReady:     []byte(`"type":"subscribed"`),
		publishPath: "/rt/publish",
		publishBody: duetPublishBody,
		resume: func(line []byte, r *resumePoint) {
			if id := lastStringField(line, idKey); id != nil {
				r.id = string(id)
			}
		},
		connected: func([]byte, *resumePoint) {},
		canResume: true,
	}
	t.start = func(ctx context.Context, addr, dir string, pin *pinning) (*exec.Cmd, error) {
		// Duet's client-facing limits are off, as Centrifugo's are in the
		// configuration it gets: publishes per identity (anonymous: per IP,
		// and every publisher is on 127.0.0.1) would cap the fan-out at
		// 1000 messages/s, and the connection caps and subscribes per
		// client address would refuse the large scenarios.
		args := append([]string{"-addr", addr,
			"-publish-rate", "-1", "-identity-publish-rate", "-1",
			"-identity-subscribe-rate", "-1",
			"-max-conns", "-1", "-max-conns-per-ip", "-1"}, t.extraArgs...)
		return startChild(ctx, dir, pin, "duet", bin, args...)
	}
	return t
}

func duetPublishBody(b []byte, ch string, payload []byte) []byte {
	b = append(b, `{"channel":`...)
	b = strconv.AppendQuote(b, ch)
	b = append(b, `,"data":`...)
	b = append(b, payload...)
	return append(b, '}')
}

// bareTarget is this program in -serve-bare mode: the same wire shapes as
// Duet with none of its features.
func bareTarget(self string) *target {
	t := duetTarget("")
	t.Name = "bare"
	t.healthPath = "/healthz"
	t.ssePath = func(ch string, _ *resumePoint) string { return "/sse?channel=" + url.QueryEscape(ch) }
	t.wsPath = "/ws"
	t.publishPath = "/publish"
	t.canResume = false
	t.start = func(ctx context.Context, addr, dir string, pin *pinning) (*exec.Cmd, error) {
		return startChild(ctx, dir, pin, "bare", self, "-serve-bare", addr)
	}
	return t
}

// centrifugoAPIKey is the HTTP API key of the generated configuration; the
// server listens on 127.0.0.1 only.
const centrifugoAPIKey = "duet-load"

// centrifugoTarget runs Centrifugo v6 with a generated configuration: memory
// engine; uni_sse and uni_websocket, the unidirectional JSON protocol, the
// counterpart of Duet's subscribe-only clients (channels are asked for in
// the connect command's "subs"); uni_websocket joins queued pushes into one
// message with '\n' (join_push_messages, as Duet batches) and has a 10 s
// write timeout (Duet's write deadline; its default of 1 s drops clients of
// a loaded machine); the HTTP publish API with an API key; anonymous access
// (client.insecure, on 127.0.0.1 only); history with recovery (1000
// messages, 10 minutes per channel: what Duet keeps by default), so a
// reconnecting client resumes as on Duet. Keys checked against
// `centrifugo defaultconfig` of v6.9.1.
func centrifugoTarget(bin string) *target {
	subs := func(ch string, r *resumePoint) []byte {
		sub := map[string]any{}
		if r != nil && r.epoch != "" {
			sub = map[string]any{"recover": true, "offset": r.offset, "epoch": r.epoch}
		}
		b, _ := json.Marshal(map[string]any{"subs": map[string]any{ch: sub}})
		return b
	}
	t := &target{
		Name:        "centrifugo",
		healthPath:  "/health",
		metricsPath: "/metrics",
		ssePath: func(ch string, r *resumePoint) string {
			return "/connection/uni_sse?cf_connect=" + url.QueryEscape(string(subs(ch, r)))
		},
		wsPath:         "/connection/uni_websocket",
		wsHello:        subs,
		wsReady:        []byte(`"connect":`),
		publishPath:    "/api/publish",
		publishHeaders: map[string]string{"X-API-Key": centrifugoAPIKey},
		publishBody:    duetPublishBody, // {"channel":…,"data":…} is Centrifugo's shape too
		publishFailed: func(body []byte) bool {
			return bytes.Contains(body, []byte(`"error":`))
		},
		resume: func(line []byte, r *resumePoint) {
			if off, ok := lastIntField(line, offsetKey); ok {
				r.offset = off
			}
		},
		connected: func(frame []byte, r *resumePoint) {
			if e := stringField(frame, epochKey); e != nil {
				r.epoch = string(e)
			}
		},
		canResume: true,
	}
	t.start = func(ctx context.Context, addr, dir string, pin *pinning) (*exec.Cmd, error) {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		cfg := map[string]any{
			"http_server":   map[string]any{"address": host, "port": p},
			"log":           map[string]any{"level": "error"},
			"engine":        map[string]any{"type": "memory"},
			"client":        map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
			"http_api":      map[string]any{"key": centrifugoAPIKey},
			"uni_sse":       map[string]any{"enabled": true},
			"uni_websocket": map[string]any{"enabled": true, "join_push_messages": true, "write_timeout": "10s"},
			"prometheus":    map[string]any{"enabled": true},
			"health":        map[string]any{"enabled": true},
			"channel": map[string]any{"without_namespace": map[string]any{
				"history_size": 1000, "history_ttl": "600s", "force_recovery": true,
			}},
		}
		b, _ := json.MarshalIndent(cfg, "", "  ")
		path := filepath.Join(dir, "centrifugo.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
		return startChild(ctx, dir, pin, "centrifugo", bin, "-c", path)
	}
	return t
}

var offsetKey = []byte(`"offset":`)

// startChild runs bin with args, its output in dir/<name>.log, in its own
// process group, on the server's CPUs with GOMAXPROCS to match when pin is
// set. The caller stops it with stopChild.
func startChild(ctx context.Context, dir string, pin *pinning, name, bin string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if pin != nil {
		cmd.Env = pin.serverEnv()
		err = pin.startOnServerCPUs(cmd.Start)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	return cmd, nil
}

// stopChild sends SIGTERM to the child (by its pid), then SIGKILL after 5 s.
func stopChild(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			return
		}
		if cmd.ProcessState != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy polls base+path until it answers 200, for at most d.
func waitHealthy(ctx context.Context, base, path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s%s not healthy after %s: %v", base, path, d, last)
}
