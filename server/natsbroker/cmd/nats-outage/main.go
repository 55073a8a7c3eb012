// Command nats-outage runs an embedded NATS server with JetStream that a
// browser test can stop and start again, to try Duet's nodes across a NATS
// outage (playwright/tests/nats-outage.spec.ts builds and runs it).
//
//	nats-outage [-dir DIR]
//
// It prints one line, "nats nats://127.0.0.1:PORT control http://127.0.0.1:PORT",
// then serves POST /stop and POST /start on the control address (loopback
// only) until it gets SIGINT or SIGTERM, or its standard input closes (so it
// ends with the test runner that started it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/duet-rt/duet/server/natsbroker/internal/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nats-outage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("nats-outage", flag.ContinueOnError)
	dir := fs.String("dir", "", "JetStream store directory (default: a temporary one, removed on exit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "nats-outage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	n, err := cluster.StartNATS(*dir, 0, false)
	if err != nil {
		return err
	}
	defer n.Stop()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) { n.Stop() })
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, _ *http.Request) {
		if err := n.Start(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("nats %s control http://%s\n", n.URL(), ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
