// Command duet serves the Duet demo UI at / and the realtime endpoints under
// /rt/ with the embedded in-memory broker.
//
//	duet -addr localhost:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/web"
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
	verbose := fs.Bool("v", false, "log connection-level events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	broker := server.NewMemoryBroker(&server.MemoryConfig{HistorySize: *historySize, HistoryTTL: *historyTTL})
	defer broker.Close()
	hub, err := server.NewHub(&server.Config{
		Broker:       broker,
		Heartbeat:    *heartbeat,
		WriteTimeout: *writeTimeout,
		QueueSize:    *queue,
		Logger:       log,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	rt := hub.Handler()
	mux.Handle("/rt/", rt)
	mux.Handle("/metrics", rt)
	mux.Handle("/", web.Handler(func() string { return broker.Head().String() }))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: mux,
		// No WriteTimeout: it would cut every SSE stream off. Streams set
		// per-write deadlines instead; these bound the request phase.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("duet: serving", "url", "http://"+ln.Addr().String()+"/", "epoch", broker.Epoch())

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
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(herr, serr)
}
