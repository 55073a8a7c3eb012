package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The game and voice pages render server-side, explain themselves before
// any script runs, and carry what their scripts and tests select.
func TestBinaryPagesRender(t *testing.T) {
	srv := httptest.NewServer(Handler(nil, nil))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/game", []string{`data-testid="game"`, `data-channel="game:arena"`, `data-hz="30"`, `data-testid="arena"`, `tabindex="0"`, "binary WebSocket frame", `src="/static/game.js"`}},
		{"/voice", []string{`data-testid="voice"`, `data-channel="voice:room"`, `data-testid="webrtc-note"`, "use WebRTC", "NAT traversal", "SFU", `src="/static/voice.js"`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := srv.Client().Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("GET %s: the page lacks %q", tc.path, w)
				}
			}
		})
	}
	for _, name := range []string{"game.js", "game.css", "voice.js", "voice.css"} {
		resp, err := srv.Client().Get(srv.URL + "/static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /static/%s: %d", name, resp.StatusCode)
		}
	}
}
