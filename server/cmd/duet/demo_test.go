package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/duet-rt/duet/server"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(runBinaryEnv) == "1" { // startBinary's child: be bin/duet
		main()
		return
	}
	// Pebble's validation authority (autocert_test.go) reads its queue
	// until the process ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
}

// TestDemoHubHistory: History reads a channel's retained messages through
// the broker, and the id it gives resumes with nothing missed or repeated.
func TestDemoHubHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	broker := server.NewMemoryBroker(&server.MemoryConfig{HistorySize: 5})
	defer broker.Close()
	hub, err := server.NewHub(&server.Config{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	h := demoHub{hub}

	msgs, after, err := h.History(ctx, "room", 3)
	if err != nil || len(msgs) != 0 || after != broker.Head().String() {
		t.Fatalf("empty channel: %v %q %v; want none after the head %s", msgs, after, err, broker.Head())
	}

	var ids []string
	for i := range 7 {
		id, err := h.Publish(ctx, "room", "chat", fmt.Appendf(nil, `{"n":%d}`, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if _, err := h.Publish(ctx, "elsewhere", "chat", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, after, err = h.History(ctx, "room", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want the newest 3", len(msgs))
	}
	for i, m := range msgs {
		if m.ID != ids[4+i] || m.Event != "chat" || string(m.Data) != fmt.Sprintf(`{"n":%d}`, 4+i) {
			t.Fatalf("message %d: %+v, want id %s", i, m, ids[4+i])
		}
	}
	if after != ids[6] {
		t.Fatalf("resume after %s, want the last message of the channel %s", after, ids[6])
	}
	// Nothing the demo hub started is left behind (goleak checks).
	if err := hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
