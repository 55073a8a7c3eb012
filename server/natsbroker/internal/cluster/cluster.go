package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes a local cluster. Bin and NginxConf are required.
type Config struct {
	// Dir holds the NATS store, nginx's prefix and its rewritten config.
	// Required.
	Dir string
	// Bin is the duet binary (bin/duet). Required.
	Bin string
	// NginxConf is the reference nginx configuration
	// (server/cmd/duet/nginx.conf, or nginx-tls.conf with CertFile). It is
	// used as is, except for its ports (listen 127.0.0.1:8080, or
	// 127.0.0.1:8443 ssl with CertFile; nodes 127.0.0.1:8081 and :8082),
	// its certificate paths and worker_processes (1). Required.
	NginxConf string
	// CertFile and KeyFile, when set, are nginx's TLS certificate and key
	// (in place of nginx-tls.conf's /etc/duet/tls/cert.pem and key.pem):
	// clients speak HTTPS, and URL is https.
	CertFile, KeyFile string
	// Nginx is the nginx binary. Defaults to "nginx" on $PATH.
	Nginx string
	// Port is nginx's port on 127.0.0.1. Zero picks a free one.
	Port int
	// NodePorts are the two nodes' ports. Zero values pick free ones.
	NodePorts [2]int
	// NATSPort is NATS's port. Zero picks a free one.
	NATSPort int
	// NodeArgs are extra flags for every node (e.g. -heartbeat 2s).
	NodeArgs []string
	// Output receives the nodes' and nginx's output, each line prefixed
	// with its source. Nil discards it.
	Output io.Writer
	// NATSLogs makes NATS log to stderr.
	NATSLogs bool
}

// Cluster is a running local cluster: NATS, two Duet nodes, nginx.
type Cluster struct {
	cfg  Config
	NATS *NATS

	mu    sync.Mutex // guards nodes and nginx
	nodes [2]*process
	nginx *process
}

// process is a child process and what waits for it.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited
	err  error         // its exit status, set before done closes
}

// Start starts NATS, the two nodes and nginx, and returns once nginx
// answers /rt/healthz through to a node, or fails when ctx ends first.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" || cfg.Bin == "" || cfg.NginxConf == "" {
		return nil, errors.New("duet/cluster: Dir, Bin and NginxConf are required")
	}
	if cfg.Nginx == "" {
		cfg.Nginx = "nginx"
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	var err error
	for _, p := range []*int{&cfg.Port, &cfg.NodePorts[0], &cfg.NodePorts[1], &cfg.NATSPort} {
		if *p == 0 {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	c := &Cluster{cfg: cfg}
	if c.NATS, err = StartNATS(filepath.Join(cfg.Dir, "nats"), cfg.NATSPort, cfg.NATSLogs); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Close()
		}
	}()
	for i := range c.nodes {
		if err := c.StartNode(ctx, i); err != nil {
			return nil, err
		}
	}
	if err := c.startNginx(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// URL is nginx's base URL: the cluster as clients see it.
func (c *Cluster) URL() string {
	scheme := "http"
	if c.cfg.CertFile != "" {
		scheme = "https"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(c.cfg.Port)
}

// NodeURL is node i's own base URL.
func (c *Cluster) NodeURL(i int) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.cfg.NodePorts[i])
}

// StartNode starts node i (again) and waits until it is healthy.
func (c *Cluster) StartNode(ctx context.Context, i int) error {
	args := append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(c.cfg.NodePorts[i]), "-nats", c.NATS.URL()}, c.cfg.NodeArgs...)
	p, err := c.spawn("node"+strconv.Itoa(i+1), c.cfg.Bin, args...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = p
	c.mu.Unlock()
	return waitHealthy(ctx, p, c.NodeURL(i)+"/rt/healthz", "")
}

// KillNode kills node i with SIGKILL, as a crash would, and waits until it
// is gone.
func (c *Cluster) KillNode(i int) error {
	c.mu.Lock()
	p := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if p == nil {
		return errors.New("duet/cluster: node " + strconv.Itoa(i+1) + " is not running")
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// NodePID returns node i's process id, 0 when it is not running.
func (c *Cluster) NodePID(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i] == nil {
		return 0
	}
	return c.nodes[i].cmd.Process.Pid
}

// Close stops nginx and the nodes (SIGTERM, then SIGKILL after 10s), then
// NATS.
func (c *Cluster) Close() error {
	c.mu.Lock()
	procs := []*process{c.nginx}
	procs = append(procs, c.nodes[:]...)
	c.nginx, c.nodes = nil, [2]*process{}
	c.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if p != nil {
			errs = append(errs, p.stop(10*time.Second))
		}
	}
	if c.NATS != nil {
		c.NATS.Stop()
	}
	return errors.Join(errs...)
}

func (c *Cluster) startNginx(ctx context.Context) error {
	conf, err := os.ReadFile(c.cfg.NginxConf)
	if err != nil {
		return err
	}
	text := string(conf)
	port := strconv.Itoa(c.cfg.Port)
	edits := []struct{ old, new string }{
		{"listen 127.0.0.1:8080;", "listen 127.0.0.1:" + port + ";"},
		{"server 127.0.0.1:8081 ", "server 127.0.0.1:" + strconv.Itoa(c.cfg.NodePorts[0]) + " "},
		{"server 127.0.0.1:8082 ", "server 127.0.0.1:" + strconv.Itoa(c.cfg.NodePorts[1]) + " "},
		{"worker_processes auto;", "worker_processes 1;"},
	}
	if c.cfg.CertFile != "" {
		edits[0] = struct{ old, new string }{"listen 127.0.0.1:8443 ssl", "listen 127.0.0.1:" + port + " ssl"}
		edits = append(edits,
			struct{ old, new string }{"ssl_certificate     /etc/duet/tls/cert.pem;", "ssl_certificate " + c.cfg.CertFile + ";"},
			struct{ old, new string }{"ssl_certificate_key /etc/duet/tls/key.pem;", "ssl_certificate_key " + c.cfg.KeyFile + ";"})
	}
	for _, r := range edits {
		if strings.Count(text, r.old) != 1 {
			return fmt.Errorf("duet/cluster: %s does not contain %q exactly once", c.cfg.NginxConf, r.old)
		}
		text = strings.Replace(text, r.old, r.new, 1)
	}
	prefix := filepath.Join(c.cfg.Dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return err
	}
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	p, err := c.spawn("nginx", c.cfg.Nginx, "-p", prefix, "-c", path, "-g", "daemon off; pid nginx.pid;")
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nginx = p
	c.mu.Unlock()
	return waitHealthy(ctx, p, c.URL()+"/rt/healthz", c.cfg.CertFile)
}

// spawn starts a child (see sysProcAttr) whose output goes to Output.
func (c *Cluster) spawn(name, bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	out := &prefixWriter{w: c.cfg.Output, prefix: name + " | "}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("duet/cluster: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to stop (SIGTERM), and kills it after grace.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("duet/cluster: " + p.name + " ignored SIGTERM for " + grace.String() + ": killed")
	}
}

// waitHealthy polls url until it answers 200, p exits, or ctx ends. With
// certFile, an https url must present that certificate.
func waitHealthy(ctx context.Context, p *process, url, certFile string) error {
	client := &http.Client{Timeout: time.Second}
	if certFile != "" {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("duet/cluster: no certificate in %s", certFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("duet/cluster: %s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("duet/cluster: %s not ready at %s: %w", p.name, url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// prefixWriter writes each line with a prefix naming its process. Lines of
// several processes may interleave, never mix.
type prefixWriter struct {
	mu     sync.Mutex // guards partial
	w      io.Writer
	prefix string
	// partial is an unfinished last line.
	partial []byte
}

func (pw *prefixWriter) Write(p []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.partial = append(pw.partial, p...)
	for {
		i := bytes.IndexByte(pw.partial, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(pw.prefix), pw.partial[:i+1]...)
		outputMu.Lock()
		_, _ = pw.w.Write(line)
		outputMu.Unlock()
		pw.partial = pw.partial[i+1:]
	}
	return len(p), nil
}

// outputMu serialises writes of all prefixWriters to their (shared) output.
var outputMu sync.Mutex
