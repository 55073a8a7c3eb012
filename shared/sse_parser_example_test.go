package shared_test

import (
	"fmt"

	"github.com/duet-rt/duet/shared"
)

func ExampleSSEParser() {
	p := shared.SSEParser{
		OnEvent: func(ev shared.SSEEvent) {
			fmt.Printf("%s %q id=%q\n", ev.Type, ev.Data, ev.LastEventID)
		},
		OnRetry:       func(ms int64) { fmt.Println("retry", ms) },
		MaxLineBytes:  64 << 10,
		MaxEventBytes: 1 << 20,
	}
	// Chunks arrive cut anywhere: inside a CRLF, inside "é" (C3 A9).
	chunks := []string{
		"retry: 5000\r",
		"\nid: 1\nevent: join\ndata: alice\n\ndata: caf\xC3",
		"\xA9\ndata: au lait\n\n",
		"id: 2\ndata: never ended",
	}
	for _, chunk := range chunks {
		if err := p.Feed([]byte(chunk)); err != nil {
			fmt.Println(err)
			return
		}
	}
	p.End() // the unfinished event is discarded, and its id with it
	fmt.Println("reconnect with Last-Event-ID:", p.LastEventID())
	// Output:
	// retry 5000
	// join "alice" id="1"
	// message "café\nau lait" id="1"
	// reconnect with Last-Event-ID: 1
}
