package cluster

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATS is an embedded NATS server with JetStream, on loopback. It can be
// stopped and started again on the same port with the same store, which is
// what a NATS restart looks like to its clients.
type NATS struct {
	mu   sync.Mutex // guards opts and srv
	opts natsserver.Options
	srv  *natsserver.Server
}

// StartNATS starts a NATS server that stores JetStream data in storeDir and
// listens on 127.0.0.1:port (0 picks a free port, kept across restarts).
// With logs set it logs to stderr.
func StartNATS(storeDir string, port int, logs bool) (*NATS, error) {
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	n := &NATS{opts: natsserver.Options{
		ServerName: "duet-nats",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoLog:      !logs,
		NoSigs:     true,
		// Clients of a stopped server find out at once (the connection
		// closes); these only bound what a stalled peer can hold up.
		PingInterval: 5 * time.Second,
	}}
	if err := n.Start(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	n.mu.Unlock()
	return n, nil
}

// Start starts the server again after Stop.
func (n *NATS) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return errors.New("duet/cluster: NATS is already running")
	}
	opts := n.opts
	srv, err := natsserver.NewServer(&opts)
	if err != nil {
		return err
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.New("duet/cluster: NATS did not become ready on port " + strconv.Itoa(opts.Port))
	}
	n.srv = srv
	return nil
}

// Stop shuts the server down and waits until it is gone. Stopping a
// stopped server does nothing.
func (n *NATS) Stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart stops the server and starts it again, after pause.
func (n *NATS) Restart(pause time.Duration) error {
	n.Stop()
	time.Sleep(pause)
	return n.Start()
}

// URL is the server's client URL.
func (n *NATS) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "nats://127.0.0.1:" + strconv.Itoa(n.opts.Port)
}

// Port is the server's client port.
func (n *NATS) Port() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.opts.Port
}
