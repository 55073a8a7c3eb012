package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/duet-rt/duet/server"
)

// Publish bytes: WebSocket subscribers get a binary frame, SSE subscribers
// and POST /rt/publish use base64 with "encoding":"base64".
func ExampleHub_PublishBinary() {
	hub, err := server.NewHub(nil)
	if err != nil {
		panic(err)
	}
	defer hub.Shutdown(context.Background())
	srv := httptest.NewServer(hub.Handler())
	defer srv.Close()

	if _, err := hub.PublishBinary(context.Background(), "game:arena", "move", []byte{1, 2, 3}); err != nil {
		panic(err)
	}
	// The same kind of message, published over HTTP.
	resp, err := http.Post(srv.URL+"/rt/publish", "application/json",
		strings.NewReader(`{"channel":"game:arena","event":"move","data":"BAUG","encoding":"base64"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
