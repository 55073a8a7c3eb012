// Command duet serves the Duet demo UI at / and the realtime endpoints under
// /rt/ with the embedded in-memory broker, or, with -nats (or DUET_NATS_URL),
// as one node of a cluster sharing a NATS JetStream stream.
//
//	duet -addr localhost:8080
//	duet -addr localhost:8081 -nats nats://127.0.0.1:4222
//	duet -addr :443 -http-addr :80 -autocert duet.example.com   # HTTPS and HTTP/2 (tls.go)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/nats-io/nats.go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "duet:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("duet", flag.ContinueOnError)
	addr := fs.String("addr", "localhost:8080", "address to listen on")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "heartbeat interval on idle connections")
	writeTimeout := fs.Duration("write-timeout", 10*time.Second, "deadline of each write to a client (and of each WebSocket pong)")
	historySize := fs.Int("history", 1000, "messages kept per channel for resume")
	historyTTL := fs.Duration("history-ttl", 10*time.Minute, "how long messages are kept for resume")
	queue := fs.Int("queue", 1024, "per-connection queue length before a slow client is disconnected")
	maxConns := fs.Int("max-conns", 10000, "most open SSE and WebSocket connections (negative: no limit)")
	maxConnsPerIP := fs.Int("max-conns-per-ip", 1000, "most open connections per client address (negative: no limit)")
	trusted := fs.String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client, e.g. 127.0.0.1/32")
	verbose := fs.Bool("v", false, "log connection-level events")
	natsURL := fs.String("nats", os.Getenv("DUET_NATS_URL"), "NATS server URL(s), e.g. nats://127.0.0.1:4222: run as one node of a cluster over NATS JetStream instead of with the in-memory broker (default $DUET_NATS_URL)")
	pprofAddr := fs.String("pprof", os.Getenv("DUET_PPROF"), "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060 (default $DUET_PPROF; empty: off)")
	var af authFlags
	af.register(fs)
	var tf tlsFlags
	tf.register(fs)
	var pf perfFlags
	pf.register(fs)
	var lf limitFlags
	lf.register(fs)
	var prf presenceFlags
	prf.register(fs)
	var sf stateFlags
	sf.register(fs)
	var admin adminFlags
	admin.register(fs)
	withDemo := demoFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *pprofAddr != "" {
		stopPprof, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	proxies, err := parsePrefixes(*trusted)
	if err != nil {
		return err
	}
	broker, epoch, err := newBroker(*natsURL, *historySize, *historyTTL, &sf, log)
	if err != nil {
		return err
	}
	defer broker.Close()
	cfg := &server.Config{
		Broker:       broker,
		Heartbeat:    *heartbeat,
		WriteTimeout: *writeTimeout,
		QueueSize:    *queue,
		Logger:       log,

		MaxConnections:      *maxConns,
		MaxConnectionsPerIP: *maxConnsPerIP,
		TrustedProxies:      proxies,
	}
	pf.apply(cfg)
	prf.apply(cfg)
	sf.hub(cfg)
	if err := admin.apply(cfg); err != nil {
		return err
	}
	if err := lf.apply(cfg); err != nil {
		return err
	}
	devTokens, err := af.apply(cfg, *addr, log)
	if err != nil {
		return err
	}
	hub, err := server.NewHub(cfg)
	if err != nil {
		return err
	}

	mux, app, err := site(hub, cfg.Authenticate != nil, *withDemo, devTokens, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// Slowloris and idle-connection timeouts; no server-wide read or write
	// timeout, which would cut SSE streams off (see server.NewHTTPServer).
	srv := server.NewHTTPServer(mux, log)
	served, err := tf.setup(srv, ln, log)
	if err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- served.serve() }()
	if app != nil {
		go app.Run(ctx) // the generators stop with the signal, before the hub
	}
	log.Info("duet: serving", "url", served.scheme+"://"+ln.Addr().String()+"/", "epoch", epoch)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("duet: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	herr := hub.Shutdown(shutdownCtx)
	serr := srv.Shutdown(shutdownCtx)
	perr := served.shutdown(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(herr, serr, perr)
}

// newBroker returns the in-memory broker, or with a NATS URL a JetStream
// broker, and its epoch.
func newBroker(natsURL string, historySize int, historyTTL time.Duration, sf *stateFlags, log *slog.Logger) (server.Broker, uint64, error) {
	if natsURL == "" {
		mc := &server.MemoryConfig{HistorySize: historySize, HistoryTTL: historyTTL}
		sf.memory(mc)
		b := server.NewMemoryBroker(mc)
		return b, b.Epoch(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := &natsbroker.Config{
		URL:         natsURL,
		Options:     []nats.Option{nats.Name("duet " + strconv.Itoa(os.Getpid()))},
		HistorySize: historySize,
		HistoryTTL:  historyTTL,
		Logger:      log,
	}
	sf.nats(nc)
	b, err := natsbroker.New(ctx, nc)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot start the NATS broker: %w", err)
	}
	log.Info("duet: broker is NATS JetStream", "stream", b.Stream())
	return b, b.Epoch(), nil
}

// parsePrefixes parses a comma-separated list of CIDRs ("" is none).
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
