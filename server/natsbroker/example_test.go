package natsbroker_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/natsbroker"
)

// Run a Hub as one node of a cluster: every node started this way shares the
// stream, its ids and its history, so clients may reconnect to any of them.
// (Compiled, not run: it needs a NATS server with JetStream.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	broker, err := natsbroker.New(ctx, &natsbroker.Config{
		URL:         "nats://127.0.0.1:4222",
		HistorySize: 1000,             // per channel: the stream's MaxMsgsPerSubject
		HistoryTTL:  10 * time.Minute, // the stream's MaxAge
	})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()

	hub, err := server.NewHub(&server.Config{Broker: broker})
	if err != nil {
		log.Fatal(err)
	}
	// /rt/healthz answers 503 while this node has lost NATS.
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", hub.Handler()))
}
