package demo

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Notification limits.
const (
	MaxNotifications = 50    // kept per user, newest first; older ones are forgotten
	maxUsers         = 10000 // users with notifications; the least recently seen is forgotten
)

// NotifyChannel returns a user's notification channel.
func NotifyChannel(user string) string { return "notify:" + user }

// Notification is one notification, the data of a "notification" event.
type Notification struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
	TS    int64  `json:"ts"` // Unix ms
	Read  bool   `json:"read"`
}

// Inbox is what the notifications page shows on first paint.
type Inbox struct {
	Channel       string
	Notifications []Notification // newest first
	Unread        int
	// ResumeAfter is the id the page's connection resumes after.
	ResumeAfter string
}

// readEvent is the data of a "read" event: which notifications were marked
// read, and the unread count after.
type readEvent struct {
	IDs    []string `json:"ids"`
	Unread int      `json:"unread"`
}

// users keeps each user's notifications in memory.
type users struct {
	mu    sync.Mutex // guards byID
	byID  map[string]*inbox
	pushN int // sample notifications pushed, to vary their text
}

type inbox struct {
	notes    []Notification // newest first
	next     int            // the next notification's number
	lastSeen time.Time
}

func newUsers() *users { return &users{byID: make(map[string]*inbox)} }

// get returns user's inbox, making one (and forgetting the least recently
// seen user when full). Called with mu held.
func (u *users) get(user string, now time.Time) *inbox {
	in := u.byID[user]
	if in == nil {
		if len(u.byID) >= maxUsers {
			var oldest string
			for id, in := range u.byID {
				if oldest == "" || in.lastSeen.Before(u.byID[oldest].lastSeen) {
					oldest = id
				}
			}
			delete(u.byID, oldest)
		}
		in = &inbox{}
		u.byID[user] = in
	}
	in.lastSeen = now
	return in
}

func (in *inbox) unread() int {
	n := 0
	for _, note := range in.notes {
		if !note.Read {
			n++
		}
	}
	return n
}

// samples are the texts of pushed notifications.
var samples = []struct{ title, body string }{
	{"Build passed", "main is green again: 214 tests in 41 s."},
	{"New comment", "Ada replied to your review: “Looks good, ship it.”"},
	{"Deploy finished", "duet v0.4 is live on 3 nodes; clients resumed with no gap."},
	{"Mention", "Grace mentioned you in #go: “who broke the benchmarks?”"},
	{"Reminder", "Stand-up in 5 minutes."},
	{"Alert resolved", "p99 latency back under 20 ms."},
}

// Inbox reads user's notifications for first paint. The resume id is read
// under the same lock as the list, so a notification pushed meanwhile is in
// one or the other, not both and not neither: push publishes while it
// holds the lock.
func (d *Demo) Inbox(ctx context.Context, user string) (Inbox, error) {
	ch := NotifyChannel(user)
	d.users.mu.Lock()
	defer d.users.mu.Unlock()
	_, after, err := d.hub.History(ctx, ch, 1)
	if err != nil {
		return Inbox{}, err
	}
	in := d.users.get(user, time.Now())
	return Inbox{
		Channel:       ch,
		Notifications: append([]Notification(nil), in.notes...),
		Unread:        in.unread(),
		ResumeAfter:   after,
	}, nil
}

// Push adds a sample notification to user's inbox and publishes it.
func (d *Demo) Push(ctx context.Context, user string) (Notification, error) {
	d.users.mu.Lock()
	defer d.users.mu.Unlock()
	now := time.Now()
	in := d.users.get(user, now)
	s := samples[d.users.pushN%len(samples)]
	d.users.pushN++
	in.next++
	note := Notification{ID: "n" + strconv.Itoa(in.next), Title: s.title, Body: s.body, TS: now.UnixMilli()}
	in.notes = append([]Notification{note}, in.notes...)
	if len(in.notes) > MaxNotifications {
		in.notes = in.notes[:MaxNotifications]
	}
	// Published under the lock: Inbox's snapshot and the stream agree.
	_, err := d.publishJSON(ctx, NotifyChannel(user), "notification", struct {
		Notification
		Unread int `json:"unread"`
	}{note, in.unread()})
	return note, err
}

// MarkRead marks the notification id (all of them when id is "") read and
// publishes the change, so every tab of the user updates its count.
func (d *Demo) MarkRead(ctx context.Context, user, id string) error {
	d.users.mu.Lock()
	defer d.users.mu.Unlock()
	in := d.users.get(user, time.Now())
	ev := readEvent{IDs: []string{}}
	for i := range in.notes {
		if !in.notes[i].Read && (id == "" || in.notes[i].ID == id) {
			in.notes[i].Read = true
			ev.IDs = append(ev.IDs, in.notes[i].ID)
		}
	}
	ev.Unread = in.unread()
	if len(ev.IDs) == 0 {
		return nil
	}
	_, err := d.publishJSON(ctx, NotifyChannel(user), "read", ev)
	return err
}

// serveNotifyPush: POST /demo/notify/push → 200 the notification.
func (d *Demo) serveNotifyPush(w http.ResponseWriter, r *http.Request) {
	user := userOf(r)
	if user == "" {
		writeError(w, http.StatusForbidden, "no demo user cookie: load /notifications first")
		return
	}
	if !d.allowed(w, r, NotifyChannel(user), true) {
		return
	}
	if !d.allowRate("notify", r) {
		writeError(w, http.StatusTooManyRequests, "slow down: at most 4 notifications a second")
		return
	}
	note, err := d.Push(r.Context(), user)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot publish: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, note)
}

// serveNotifyRead: POST /demo/notify/read {"id":"n3"} or {"all":true}.
func (d *Demo) serveNotifyRead(w http.ResponseWriter, r *http.Request) {
	user := userOf(r)
	if user == "" {
		writeError(w, http.StatusForbidden, "no demo user cookie: load /notifications first")
		return
	}
	var req struct {
		ID  string `json:"id"`
		All bool   `json:"all"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.ID == "" && !req.All {
		writeError(w, http.StatusBadRequest, `send {"id":"…"} or {"all":true}`)
		return
	}
	if !d.allowed(w, r, NotifyChannel(user), true) {
		return
	}
	if !d.allowRate("read", r) {
		writeError(w, http.StatusTooManyRequests, "slow down: at most 4 requests a second")
		return
	}
	if req.All {
		req.ID = ""
	}
	if err := d.MarkRead(r.Context(), user, req.ID); err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot publish: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
