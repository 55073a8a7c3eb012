package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// memHub is a Hub that keeps every message in memory: what the demo needs
// of a real hub, with the published messages open to inspection.
type memHub struct {
	mu   sync.Mutex // guards msgs
	msgs []hubMessage
}

type hubMessage struct {
	Channel string
	Message
}

func (h *memHub) Publish(ctx context.Context, channel, event string, data []byte) (string, error) {
	if !json.Valid(data) {
		return "", fmt.Errorf("invalid JSON %q", data)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	id := fmt.Sprintf("1-%d", len(h.msgs)+1)
	h.msgs = append(h.msgs, hubMessage{channel, Message{ID: id, Event: event, Data: data, TS: time.Now().UnixMilli()}})
	return id, nil
}

func (h *memHub) History(ctx context.Context, channel string, max int) ([]Message, string, error) {
	h.mu.Lock()
	head := len(h.msgs)
	h.mu.Unlock()
	out := h.on(channel)
	after := fmt.Sprintf("1-%d", head)
	if len(out) > 0 {
		after = out[len(out)-1].ID
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out, after, nil
}

func (h *memHub) on(channel string) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Message
	for _, m := range h.msgs {
		if m.Channel == channel {
			out = append(out, m.Message)
		}
	}
	return out
}

func newTestDemo(t *testing.T) (*Demo, *memHub) {
	t.Helper()
	h := &memHub{}
	d, err := New(Config{Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	return d, h
}

// call serves one request to d's API and returns the status and body.
func call(t *testing.T, d *Demo, method, path, user, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.AddCookie(&http.Cookie{Name: userCookie, Value: user})
	}
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestNewNeedsHub(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a Hub succeeded")
	}
}

func TestUserCookie(t *testing.T) {
	d, _ := newTestDemo(t)
	w := httptest.NewRecorder()
	id := d.User(w, httptest.NewRequest("GET", "/", nil))
	if !userIDPattern.MatchString(id) {
		t.Fatalf("user id %q does not match %v", id, userIDPattern)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Value != id || !cookies[0].HttpOnly {
		t.Fatalf("cookie %+v, want one HttpOnly cookie with %q", cookies, id)
	}
	// The cookie comes back: same user, no new cookie.
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookies[0])
	w2 := httptest.NewRecorder()
	if got := d.User(w2, r); got != id {
		t.Fatalf("returning user: %q, want %q", got, id)
	}
	if len(w2.Result().Cookies()) != 0 {
		t.Fatal("a returning user got a new cookie")
	}
}

func TestChatSend(t *testing.T) {
	d, h := newTestDemo(t)
	const user = "AAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name, body string
		status     int
	}{
		{"ok", `{"room":"lobby","nick":" ann ","text":"hi\u0007 there"}`, 200},
		{"unknown room", `{"room":"kitchen","nick":"a","text":"b"}`, 404},
		{"empty nick", `{"room":"lobby","nick":"  ","text":"b"}`, 400},
		{"long nick", `{"room":"lobby","nick":"` + strings.Repeat("é", MaxNickRunes+1) + `","text":"b"}`, 400},
		{"longest nick", `{"room":"lobby","nick":"` + strings.Repeat("é", MaxNickRunes) + `","text":"b"}`, 200},
		{"long text", `{"room":"lobby","nick":"a","text":"` + strings.Repeat("x", MaxTextRunes+1) + `"}`, 400},
		{"not JSON", `{"room":`, 400},
		{"huge body", `{"room":"lobby","nick":"a","text":"` + strings.Repeat("x", maxBody) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, d, "POST", "/demo/chat/send", user, tt.body)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
		})
	}
	msgs := h.on(ChatChannel("lobby"))
	if len(msgs) != 2 {
		t.Fatalf("%d messages published, want 2", len(msgs))
	}
	// Trimmed, control characters removed.
	if got := string(msgs[0].Data); got != `{"nick":"ann","text":"hi there"}` {
		t.Fatalf("published %s", got)
	}

	room, err := d.ChatRoom(context.Background(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Messages) != 2 || room.Messages[0].Nick != "ann" || room.ResumeAfter != msgs[1].ID {
		t.Fatalf("room %+v", room)
	}
}

func TestChatRoomSkipsForeignMessages(t *testing.T) {
	d, h := newTestDemo(t)
	ctx := context.Background()
	// Anyone may publish to a chat channel through /rt/publish.
	h.Publish(ctx, ChatChannel("go"), "chat", []byte(`{"nick":"","text":"no nick"}`))
	h.Publish(ctx, ChatChannel("go"), "other", []byte(`{"nick":"a","text":"wrong event"}`))
	h.Publish(ctx, ChatChannel("go"), "chat", []byte(`[1,2]`))
	h.Publish(ctx, ChatChannel("go"), "chat", []byte(`{"nick":"bo","text":"fine"}`))
	room, err := d.ChatRoom(ctx, "go")
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Messages) != 1 || room.Messages[0].Text != "fine" {
		t.Fatalf("messages %+v, want only the well-formed one", room.Messages)
	}
}

func TestRateLimit(t *testing.T) {
	l := newLimiter()
	now := time.Now()
	for i := range limitBurst {
		if !l.allow("k", now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow("k", now) {
		t.Fatal("request past the burst allowed")
	}
	if !l.allow("other", now) {
		t.Fatal("another key was refused")
	}
	if !l.allow("k", now.Add(limitInterval)) {
		t.Fatal("a refilled token was refused")
	}
	// Full of keys: the refilled ones are forgotten to make room.
	for i := range limitMaxKeys {
		l.allow(fmt.Sprint(i), now)
	}
	if l.allow("new", now) {
		t.Fatal("a new key was allowed with the table full of busy keys")
	}
	if !l.allow("new", now.Add(limitBurst*limitInterval)) {
		t.Fatal("a new key was refused after the others refilled")
	}
	if len(l.buckets) > limitMaxKeys {
		t.Fatalf("%d buckets, over the limit of %d", len(l.buckets), limitMaxKeys)
	}
}

func TestNotifications(t *testing.T) {
	d, h := newTestDemo(t)
	const user = "BBBBBBBBBBBBBBBBBBBBBB"
	ctx := context.Background()
	if status, _ := call(t, d, "POST", "/demo/notify/push", "", ""); status != http.StatusForbidden {
		t.Fatalf("push without a cookie: %d, want 403", status)
	}
	for range MaxNotifications + 5 {
		if _, err := d.Push(ctx, user); err != nil {
			t.Fatal(err)
		}
	}
	in, err := d.Inbox(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Notifications) != MaxNotifications || in.Unread != MaxNotifications {
		t.Fatalf("%d notifications, %d unread; want %d of each", len(in.Notifications), in.Unread, MaxNotifications)
	}
	newest := in.Notifications[0].ID
	if newest != fmt.Sprint("n", MaxNotifications+5) {
		t.Fatalf("newest is %s", newest)
	}
	pushed := h.on(NotifyChannel(user))
	if in.ResumeAfter != pushed[len(pushed)-1].ID {
		t.Fatalf("resume after %s, want the last published %s", in.ResumeAfter, pushed[len(pushed)-1].ID)
	}

	status, body := call(t, d, "POST", "/demo/notify/read", user, `{"id":"`+newest+`"}`)
	if status != 200 {
		t.Fatalf("read: %d %s", status, body)
	}
	all := h.on(NotifyChannel(user))
	last := all[len(all)-1]
	if last.Event != "read" || string(last.Data) != `{"ids":["`+newest+`"],"unread":49}` {
		t.Fatalf("read event %s %s", last.Event, last.Data)
	}
	if status, _ := call(t, d, "POST", "/demo/notify/read", user, `{"all":true}`); status != 200 {
		t.Fatal("read all failed")
	}
	if in, _ := d.Inbox(ctx, user); in.Unread != 0 {
		t.Fatalf("%d unread after reading all", in.Unread)
	}
	if status, _ := call(t, d, "POST", "/demo/notify/read", user, `{}`); status != 400 {
		t.Fatal("read with neither id nor all was accepted")
	}
}

func TestUsersBounded(t *testing.T) {
	u := newUsers()
	now := time.Now()
	for i := range maxUsers + 10 {
		u.get(fmt.Sprint(i), now.Add(time.Duration(i)))
	}
	if len(u.byID) != maxUsers {
		t.Fatalf("%d users kept, want %d", len(u.byID), maxUsers)
	}
	if _, ok := u.byID["0"]; ok {
		t.Fatal("the least recently seen user was kept")
	}
}

// TestWrap: the middleware counts connections, ends a page's connections
// with the right cause, and refuses its WebSocket upgrades while blocked.
func TestWrap(t *testing.T) {
	reconnect := fmt.Errorf("reconnect")
	h := &memHub{}
	type openedKey struct{}
	observe := func(ctx context.Context, opened func(end func(error)) func()) context.Context {
		return context.WithValue(ctx, openedKey{}, opened)
	}
	d, err := New(Config{Hub: h, ReconnectCause: reconnect, Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	causes := make(chan error, 4)
	started := make(chan struct{}, 4)
	// A stand-in for the hub's streams: like the hub, it tells the observer
	// of the connection and when it ends, holds the request until the
	// connection is ended and reports why.
	rt := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opened, _ := r.Context().Value(openedKey{}).(func(func(error)) func())
		if opened == nil {
			t.Error("no observer in the request's context")
			return
		}
		ctx, end := context.WithCancelCause(r.Context())
		closed := opened(end)
		started <- struct{}{}
		<-ctx.Done()
		closed()
		causes <- context.Cause(ctx)
	})
	srv := httptest.NewServer(d.Wrap(rt))
	defer srv.Close()
	const page = "page-0123456789"

	open := func(path string) {
		go func() {
			res, err := http.Get(srv.URL + path)
			if err == nil {
				res.Body.Close()
			}
		}()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not reach the handler", path)
		}
	}
	open("/rt/sse?channel=a&demo=" + page)
	open("/rt/ws?demo=" + page)
	open("/rt/sse?channel=a&demo=someone-else")
	if sse, ws := d.conns.counts(); sse != 2 || ws != 1 {
		t.Fatalf("counts %d SSE %d WS, want 2 and 1", sse, ws)
	}
	if live := d.Live(); live.SSE != 2 || live.WS != 1 {
		t.Fatalf("Live %+v", live)
	}

	status, body := call(t, d, "POST", "/demo/lab/restart", "", `{"page":"`+page+`"}`)
	if status != 200 || !strings.Contains(body, `"ended":2`) {
		t.Fatalf("restart: %d %s", status, body)
	}
	for range 2 {
		select {
		case c := <-causes:
			if c != reconnect {
				t.Fatalf("cause %v, want the reconnect cause", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a connection was not ended")
		}
	}

	// Blocked: the upgrade is refused before the hub sees it.
	if status, body := call(t, d, "POST", "/demo/lab/block", "", `{"page":"`+page+`","block":true}`); status != 200 {
		t.Fatalf("block: %d %s", status, body)
	}
	res, err := http.Get(srv.URL + "/rt/ws?demo=" + page)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("blocked upgrade: %d, want 403", res.StatusCode)
	}
	// SSE still goes through, and "drop" ends it with the drop cause.
	open("/rt/sse?channel=a&demo=" + page)
	if status, body := call(t, d, "POST", "/demo/lab/drop", "", `{"page":"`+page+`"}`); status != 200 || !strings.Contains(body, `"ended":1`) {
		t.Fatalf("drop: %d %s", status, body)
	}
	if c := <-causes; c != errDropped {
		t.Fatalf("cause %v, want errDropped", c)
	}
	call(t, d, "POST", "/demo/lab/block", "", `{"page":"`+page+`","block":false}`)
	open("/rt/ws?demo=" + page)

	if status, _ := call(t, d, "POST", "/demo/lab/drop", "", `{"page":"x"}`); status != 400 {
		t.Fatal("a malformed page id was accepted")
	}
	// End what is left: the other page's stream and the last WebSocket.
	d.conns.drop("someone-else")
	d.conns.drop(page)
	<-causes
	<-causes
}

func TestBlockBounded(t *testing.T) {
	tr := newTracker(nil, nil)
	now := time.Now()
	for i := range maxBlocked {
		if err := tr.block(fmt.Sprint("page-", i), true, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.block("one-more-page", true, now); err == nil {
		t.Fatal("blocked past the limit")
	}
	// Lapsed blocks make room.
	if err := tr.block("one-more-page", true, now.Add(blockFor+time.Second)); err != nil {
		t.Fatal(err)
	}
	if tr.isBlocked("page-1", now.Add(blockFor+time.Second)) {
		t.Fatal("a lapsed block still blocks")
	}
}

func TestGenerators(t *testing.T) {
	d, h := newTestDemo(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	// Nobody watches: the feed and the lab stay quiet.
	time.Sleep(200 * time.Millisecond)
	if n := len(h.on(FeedChannel)) + len(h.on(LabChannel)) + len(h.on(PulseChannel)); n != 0 {
		t.Fatalf("%d messages with nobody watching", n)
	}
	call(t, d, "POST", "/demo/feed/watch", "", "")
	call(t, d, "POST", "/demo/lab/watch", "", "")
	call(t, d, "POST", "/demo/pulse/watch", "", "")
	deadline := time.Now().Add(5 * time.Second)
	for len(h.on(FeedChannel)) < 5 || len(h.on(LabChannel)) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("feed %d, lab %d messages after 5 s", len(h.on(FeedChannel)), len(h.on(LabChannel)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The pulse comes every PulseEvery.
	for len(h.on(PulseChannel)) < 1 {
		if time.Now().After(deadline.Add(PulseEvery)) {
			t.Fatal("no pulse while watched")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	// The lab's messages are numbered 1, 2, 3...
	for i, m := range h.on(LabChannel) {
		var tick LabTick
		if err := json.Unmarshal(m.Data, &tick); err != nil || tick.N != int64(i+1) {
			t.Fatalf("lab message %d: %s", i, m.Data)
		}
	}
	var q Quote
	if err := json.Unmarshal(h.on(FeedChannel)[0].Data, &q); err != nil || q.Symbol == "" || q.Price <= 0 {
		t.Fatalf("feed message %s", h.on(FeedChannel)[0].Data)
	}
}
