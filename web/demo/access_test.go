package demo

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// send posts a chat line from remote with the given user cookie.
func send(d *Demo, remote, user string) int {
	r := httptest.NewRequest(http.MethodPost, "/demo/chat/send", strings.NewReader(`{"room":"lobby","nick":"n","text":"t"}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = remote
	if user != "" {
		r.AddCookie(&http.Cookie{Name: userCookie, Value: user})
	}
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, r)
	return w.Code
}

// A client that sends a new user cookie with every request must not get a
// new rate-limit budget with it: the limit is per user and per address.
func TestRateLimitNotResetByNewCookie(t *testing.T) {
	d, h := newTestDemo(t)
	// What one address may send in a burst, and over time: the test's
	// clock runs, so a few more tokens may refill meanwhile.
	burst := addrLimitFactor * limitBurst
	limited := func(name string, ok int, start time.Time) {
		t.Helper()
		refilled := int(time.Since(start) / (limitInterval / addrLimitFactor))
		assert.True(t, fmt.Sprintf("%s: %d sent, want %d to %d", name, ok, burst, burst+refilled+1), ok >= burst && ok <= burst+refilled+1)
	}
	start, ok := time.Now(), 0
	for range 3 * burst {
		if send(d, "192.0.2.1:1234", newID()) == http.StatusOK {
			ok++
		}
	}
	limited("fresh cookies from one address", ok, start)
	assert.Equal(t, "published", len(h.on(ChatChannel("lobby"))), ok)
	// Nor a new address of the same IPv6 /64.
	start, ok = time.Now(), 0
	for i := range 3 * burst {
		if send(d, fmt.Sprintf("[2001:db8::%x]:1234", i+1), newID()) == http.StatusOK {
			ok++
		}
	}
	limited("fresh cookies from many addresses of one /64", ok, start)
	// Another client is not affected.
	assert.Equal(t, "another address", send(d, "198.51.100.7:1234", ""), http.StatusOK)
	// One user changing addresses keeps its own budget too.
	user, ok := newID(), 0
	for i := range 20 {
		if send(d, fmt.Sprintf("203.0.113.%d:1234", i+1), user) == http.StatusOK {
			ok++
		}
	}
	assert.True(t, "one user from several addresses is limited", ok <= limitBurst)
}

// With Config.Authorize (the hub's Check in bin/duet), every endpoint that
// publishes or reads a channel on a client's behalf asks it first.
func TestDemoAuthorize(t *testing.T) {
	h := &memHub{}
	var asked []string
	d, err := New(Config{Hub: h, Authorize: func(r *http.Request, channel string, publish bool) error {
		what := "subscribe "
		if publish {
			what = "publish "
		}
		asked = append(asked, what+channel)
		switch r.Header.Get("Authorization") {
		case "":
			return shared.NewError(shared.CodeUnauthorized, "no credentials")
		case "Bearer reader":
			if publish {
				return shared.NewError(shared.CodeForbidden, "may not publish")
			}
			return nil
		case "Bearer writer":
			return nil
		}
		return errors.New("unknown")
	}})
	assert.NoError(t, err)
	user := newID()
	ask := func(path, token string) int {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"room":"lobby","nick":"n","text":"t","all":true}`))
		r.Header.Set("Content-Type", "application/json")
		r.AddCookie(&http.Cookie{Name: userCookie, Value: user})
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		d.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for _, path := range []string{"/demo/chat/send", "/demo/notify/push", "/demo/notify/read"} {
		assert.Equal(t, path+" without credentials", ask(path, ""), http.StatusUnauthorized)
		assert.Equal(t, path+" read-only", ask(path, "reader"), http.StatusForbidden)
		assert.Equal(t, path+" unknown error", ask(path, "other"), http.StatusForbidden)
	}
	assert.Equal(t, "nothing published while refused", len(h.on(ChatChannel("lobby")))+len(h.on(NotifyChannel(user))), 0)
	assert.Equal(t, "chat with rights", ask("/demo/chat/send", "writer"), http.StatusOK)
	assert.Equal(t, "push with rights", ask("/demo/notify/push", "writer"), http.StatusOK)
	assert.Contains(t, "asked about the channels", strings.Join(asked, ","), "publish chat:lobby,")
	assert.Contains(t, "asked about the channels", strings.Join(asked, ","), "publish notify:"+user)

	// The pages' history reads: Allow is what package web asks.
	r := httptest.NewRequest(http.MethodGet, "/chat", nil)
	assert.True(t, "history refused without credentials", d.Allow(r, ChatChannel("lobby"), false) != nil)
	r.Header.Set("Authorization", "Bearer reader")
	assert.NoError(t, d.Allow(r, ChatChannel("lobby"), false))
}
