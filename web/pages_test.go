package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/duet-rt/duet/web/demo"
)

// chatHub is a demo.Hub holding one room's messages.
type chatHub struct {
	mu   sync.Mutex // guards msgs
	msgs []demo.Message
}

func (h *chatHub) Publish(ctx context.Context, channel, event string, data []byte) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := "1-" + itoa(len(h.msgs)+1)
	if channel == demo.ChatChannel("lobby") {
		h.msgs = append(h.msgs, demo.Message{ID: id, Event: event, Data: data, TS: 1_700_000_000_000})
	}
	return id, nil
}

func (h *chatHub) History(ctx context.Context, channel string, max int) ([]demo.Message, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if channel != demo.ChatChannel("lobby") || len(h.msgs) == 0 {
		return nil, "1-99", nil
	}
	return append([]demo.Message(nil), h.msgs...), h.msgs[len(h.msgs)-1].ID, nil
}

func getPage(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestPages(t *testing.T) {
	hub := &chatHub{}
	app, err := demo.New(demo.Config{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]string{"nick": "<b>eve</b>", "text": `<script>alert("x")</script>`})
	hub.Publish(context.Background(), demo.ChatChannel("lobby"), "chat", data)
	h := Handler(func() string { return "1-7" }, app)

	tests := []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{`data-testid="compare"`, `data-testid="live-reconnect"`, `src="/static/home.js"`, `aria-current="page"`}},
		{"/chat", 200, []string{`data-resume-after="1-1"`, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `&lt;b&gt;eve&lt;/b&gt;`, `<label for="nick">`}},
		{"/chat?room=go", 200, []string{`data-channel="chat:go"`, `data-resume-after="1-99"`}},
		{"/chat?room=nope", 404, nil},
		{"/notifications", 200, []string{`data-testid="unread"`, `data-channel="notify:`}},
		{"/feed", 200, []string{`data-symbol="DUET"`, `data-channel="feed:ticker"`}},
		{"/lab", 200, []string{`data-testid="pane-auto"`, `data-testid="pane-sse"`, `data-resume-after="1-7"`}},
		{"/lab/tab?n=3", 200, []string{`data-n="3"`}},
		{"/lab/tab?n=9", 400, nil},
		{"/lab/startup", 200, []string{`/static/lab-startup.js`, `data-testid="startup"`}},
		// The demo's static files and the client's, under one /static/.
		{"/static/duet.css", 200, []string{"body"}},
		{"/static/demo.js", 200, []string{"export"}},
		{"/static/duet.d.ts", 200, []string{"loadDuet"}},
		{"/duet.js", 200, nil}, // the loader, or the module that says to build it
		{"/static/missing.js", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := getPage(t, h, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			if strings.Contains(body, "<script>alert") {
				t.Error("chat text is not escaped")
			}
		})
	}

	// Without the demo only the home page is served, with no script.
	bare := Handler(nil, nil)
	if status, body := getPage(t, bare, "/"); status != 200 || strings.Contains(body, "home.js") {
		t.Fatalf("home without the demo: %d, script included: %v", status, strings.Contains(body, "home.js"))
	}
	if status, _ := getPage(t, bare, "/chat"); status != 404 {
		t.Fatalf("/chat without the demo: %d, want 404", status)
	}
}
