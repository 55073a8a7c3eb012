package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	sse "github.com/tmaxmax/go-sse"
)

// Embed a Hub in a program: mount its handler next to the program's own
// routes, publish from Go, and any SSE client (here go-sse) receives the
// message.
func Example() {
	ctx := context.Background()
	// A fixed epoch only so that the ids printed below are stable; leave
	// the MemoryConfig nil in a real program.
	broker := server.NewMemoryBroker(&server.MemoryConfig{Epoch: 1})
	defer broker.Close()
	hub, err := server.NewHub(&server.Config{Broker: broker})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/rt/", hub.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the app") })
	srv := httptest.NewServer(mux) // in a program: (&http.Server{Handler: mux}).Serve(ln)
	defer srv.Close()
	defer hub.Shutdown(ctx) // before srv.Close: it ends the open streams

	resp, err := http.Get(srv.URL + "/rt/sse?channel=news")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	id, err := hub.PublishJSON(ctx, "news", "headline", map[string]string{"title": "Duet 1.0"})
	if err != nil {
		panic(err)
	}
	fmt.Println("published", id)

	for ev, err := range sse.Read(resp.Body, nil) {
		if err != nil {
			panic(err)
		}
		if ev.Type == "duet.hello" {
			continue // Duet's greeting; EventSource ignores it
		}
		env, _ := shared.DecodeEnvelope([]byte(ev.Data))
		fmt.Println(ev.Type, ev.LastEventID, env.Channel, string(env.Data))
		break
	}
	// Output:
	// published 1-1
	// headline 1-1 news {"title":"Duet 1.0"}
}

// A WebSocket client subscribes, a plain HTTP POST publishes, and the
// message arrives as a "message" frame with the id the POST returned.
func ExampleHub_WSHandler() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	broker := server.NewMemoryBroker(&server.MemoryConfig{Epoch: 1})
	defer broker.Close()
	hub, err := server.NewHub(&server.Config{Broker: broker})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(hub.Handler())
	defer srv.Close()
	defer hub.Shutdown(ctx)

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/rt/ws",
		&websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()
	err = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","ref":"1","channels":["chat"]}`))
	if err != nil {
		panic(err)
	}
	// next returns the next protocol frame: one WebSocket frame may carry
	// several, one per line.
	var pending [][]byte
	next := func() shared.Frame {
		for len(pending) == 0 {
			_, p, err := conn.Read(ctx)
			if err != nil {
				panic(err)
			}
			pending = bytes.Split(p, []byte{'\n'})
		}
		f, err := shared.DecodeFrame(pending[0])
		if err != nil {
			panic(err)
		}
		pending = pending[1:]
		return f
	}
	for next().Type != shared.TypeSubscribed { // the hello comes first
	}

	resp, err := http.Post(srv.URL+"/rt/publish", "application/json",
		strings.NewReader(`{"channel":"chat","data":{"text":"hi"}}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, " ", string(body))

	f := next()
	fmt.Println(f.Type, f.ID, f.Channel, f.Event, string(f.Data))
	conn.Close(websocket.StatusNormalClosure, "")
	// Output:
	// 200 OK {"id":"1-1"}
	// message 1-1 chat message {"text":"hi"}
}
