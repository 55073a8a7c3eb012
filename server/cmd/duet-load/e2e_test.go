package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
)

// The whole measuring path (SSE reader, WebSocket client, publishers,
// window, sequence checks, latency) against real servers in this process:
// the bare baseline and a Duet hub. Nothing may be lost, duplicated or
// reordered. The figures themselves are not asserted.
func TestMeasureEndToEnd(t *testing.T) {
	// The limits off, as the tool runs bin/duet: the publishers all come
	// from 127.0.0.1, which the per-identity publish rate would throttle.
	hub, err := server.NewHub(&server.Config{
		PublishRate:         -1,
		IdentityPublishRate: -1,
		MaxConnections:      -1,
		MaxConnectionsPerIP: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/rt/", hub.Handler())
	mux.Handle("/metrics", hub.Handler())
	// HTTP/1.1 and h2c, as bin/duet -h2c serves (for -sse-h2).
	duetSrv := httptest.NewUnstartedServer(mux)
	duetSrv.Config.Protocols = new(http.Protocols)
	duetSrv.Config.Protocols.SetHTTP1(true)
	duetSrv.Config.Protocols.SetUnencryptedHTTP2(true)
	duetSrv.Start()
	bareSrv := httptest.NewServer(newBareHandler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		duetSrv.Close()
		bareSrv.Close()
	})
	duet := duetTarget("")
	duet.url = strings.TrimPrefix(duetSrv.URL, "http://")
	bare := bareTarget("")
	bare.url = strings.TrimPrefix(bareSrv.URL, "http://")

	for _, c := range []struct {
		name  string
		t     *target
		sc    scenario
		coder bool
		h2    int // -sse-h2
	}{
		{"bare mixed, as fast as possible", bare, scenario{Subs: 40, SSEFraction: 0.5, Channels: 4}, false, 0},
		{"duet mixed, as fast as possible", duet, scenario{Subs: 40, SSEFraction: 0.5, Channels: 4}, false, 0},
		{"duet SSE at a fixed rate", duet, scenario{Subs: 20, SSEFraction: 1, Channels: 2, Rate: 2000}, false, 0},
		// At a fixed rate: the window does not wait for a subscriber that is
		// reconnecting, so at full speed a slow reconnect on a loaded
		// machine could fall behind more than the history holds (a gap).
		{"duet WebSocket at a fixed rate, reconnecting with resume", duet, scenario{Subs: 20, SSEFraction: 0, Channels: 2, Rate: 2000, Reconnect: 0.25, Interval: 150 * time.Millisecond}, false, 0},
		{"duet idle", duet, scenario{Subs: 30, SSEFraction: 0.5, Channels: 3, Idle: true}, false, 0},
		{"duet WebSocket read with coder/websocket", duet, scenario{Subs: 20, SSEFraction: 0, Channels: 2}, true, 0},
		{"duet SSE over HTTP/2, 8 streams per connection", duet, scenario{Subs: 20, SSEFraction: 1, Channels: 2}, false, 8},
		{"duet SSE over HTTP/2 at a fixed rate, reconnecting with resume", duet, scenario{Subs: 20, SSEFraction: 1, Channels: 2, Rate: 2000, Reconnect: 0.25, Interval: 150 * time.Millisecond}, false, 8},
	} {
		// Both readers; -ws-client coder and HTTP/2 streams are read by
		// goroutines whatever -reader says.
		readers := []string{"netpoll", "epoll"}
		if c.coder || c.h2 > 0 {
			readers = readers[:1]
		}
		for _, reader := range readers {
			t.Run(c.name+"/"+reader, func(t *testing.T) {
				sc := c.sc
				sc.Name, sc.Payload, sc.Window, sc.Publishers = "test", 110, 64, 2
				sc.Warmup, sc.Duration = 100*time.Millisecond, 400*time.Millisecond
				if sc.Reconnect > 0 {
					// Connections are dropped between intervals, never after
					// the last: leave room for several even when a busy
					// machine makes an interval slow.
					sc.Duration = 1500 * time.Millisecond
				}
				o := options{connectPar: 8, srcIPs: 4, settle: 50 * time.Millisecond, coderWS: c.coder, h2Streams: c.h2, epoll: reader == "epoll", logf: t.Logf}
				res, err := measure(t.Context(), sc, c.t, o)
				if err != nil {
					t.Fatal(err)
				}
				t.Log(oneLine(res))
				if res.FirstError != "" || res.Connected != sc.Subs || res.StillConnected != sc.Subs {
					t.Fatalf("connected %d, still %d of %d; error %q", res.Connected, res.StillConnected, sc.Subs, res.FirstError)
				}
				if res.Lost != 0 || res.Duplicated != 0 || res.Reordered != 0 || res.Gaps != 0 {
					t.Fatalf("lost %d, duplicated %d, reordered %d, gaps %d", res.Lost, res.Duplicated, res.Reordered, res.Gaps)
				}
				if sc.Idle {
					return
				}
				if res.Deliveries == 0 || res.LatencySamples == 0 || res.PublishedMsgs == 0 || res.PublishErrors != 0 {
					t.Fatalf("deliveries %d, latency samples %d, published %d, publish errors %d", res.Deliveries, res.LatencySamples, res.PublishedMsgs, res.PublishErrors)
				}
				if sc.Reconnect > 0 && res.Reconnects == 0 {
					t.Fatal("no subscriber reconnected")
				}
			})
		}
	}
}
