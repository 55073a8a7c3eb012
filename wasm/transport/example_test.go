package transport_test

import (
	"fmt"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/wasm/transport"
)

// logger is an Observer that prints what the application would see.
type logger struct{}

func (logger) StateChanged(s transport.State, k transport.Kind) { fmt.Println("state", s, k) }
func (logger) Message(e *shared.Envelope)                       { fmt.Println("message", e.Channel, e.ID, string(e.Data)) }
func (logger) Gap(g *transport.Gap)                             { fmt.Println("gap", g.Reason, "resume from", g.ID) }
func (logger) Error(e *shared.Error, fatal bool)                { fmt.Println("error", e, fatal) }

// A Client of one tab, not shared with other tabs (no Bus), so it leads at
// once. In the browser, package jsbind supplies the Dialer (WebSocket and
// fetch), the Bus (a BroadcastChannel), and calls Lead when the tab gets the
// origin's Web Lock. (Compiled, not run: the Dialer is the browser's;
// the package's tests run a Client over fake wires.)
func ExampleNewClient() {
	var dialer transport.Dialer = browserDialer()
	cl, err := transport.NewClient("https://example.com", &transport.Options{
		Mode:     transport.ModeAuto,
		Channels: []string{"news"},
	}, transport.Env{Dialer: dialer, Observer: logger{}}, transport.ClientOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cl.Start()
	cl.Publish("news", "", []byte(`{"title":"hello"}`), func(id string, err error) {
		fmt.Println("published", id, err)
	})
}

func browserDialer() transport.Dialer { return nil }

// The cursor drops what a resumed stream, or a second wire, repeats.
func ExampleCursor() {
	c := transport.NewCursor("1700000000000-41")
	fmt.Println(c.Accept("1700000000000-41")) // seen
	fmt.Println(c.Accept("1700000000000-42"))
	fmt.Println(c.Accept("1800000000000-1")) // a new epoch: the server restarted
	fmt.Println(c.Last())
	// Output:
	// false
	// true
	// true
	// 1800000000000-1
}
