package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/duet-rt/duet/server"
)

// Serve a hub on the internet: limits sized for the machine, the reverse
// proxy's address trusted for X-Forwarded-For, and an http.Server with the
// timeouts against slowloris (and without the server-wide ones that would
// cut SSE streams off).
func ExampleNewHTTPServer() {
	hub, err := server.NewHub(&server.Config{
		MaxConnections:      50000,
		MaxConnectionsPerIP: 200,
		TrustedProxies:      []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	srv := server.NewHTTPServer(hub.Handler(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	resp, err := http.Get("http://" + ln.Addr().String() + "/rt/healthz")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, srv.ReadHeaderTimeout)

	// Shut down: the hub first (it tells clients to reconnect elsewhere),
	// then the server.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hub.Shutdown(ctx)
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		panic(err)
	}
	// Output: 200 OK 10s
}
