package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/duet-rt/duet/web/demo"
)

// labTabs is how many native EventSources or Duet tabs the lab opens: more
// than HTTP/1.1's six connections per origin.
const labTabs = 8

// demoPages registers the pages backed by the demo's server side, and its
// API under /demo/.
func demoPages(mux *http.ServeMux, head HeadFunc, app *demo.Demo) {
	mux.Handle("/demo/", app.Handler())
	mux.HandleFunc("GET /chat", func(w http.ResponseWriter, r *http.Request) {
		room := r.URL.Query().Get("room")
		if room == "" {
			room = demo.Rooms[0]
		}
		if !demo.ValidRoom(room) {
			http.Error(w, "duet/web: no such room", http.StatusNotFound)
			return
		}
		app.User(w, r)
		if refused(w, app.Allow(r, demo.ChatChannel(room), false)) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		cr, err := app.ChatRoom(ctx, room)
		if err != nil {
			http.Error(w, "duet/web: cannot read the room's history: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		render(w, r, Chat(ChatData{
			Page:   Page{Title: "Chat #" + room, Path: "/chat", Script: "chat.js"},
			PageID: demo.NewPageID(),
			Rooms:  demo.Rooms,
			Room:   cr,
		}))
	})
	mux.HandleFunc("GET /notifications", func(w http.ResponseWriter, r *http.Request) {
		user := app.User(w, r)
		if refused(w, app.Allow(r, demo.NotifyChannel(user), false)) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		in, err := app.Inbox(ctx, user)
		if err != nil {
			http.Error(w, "duet/web: cannot read the notifications: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		render(w, r, Notifications(NotificationsData{
			Page:   Page{Title: "Notifications", Path: "/notifications", Script: "notifications.js"},
			PageID: demo.NewPageID(),
			Inbox:  in,
		}))
	})
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) {
		render(w, r, Feed(FeedData{
			Page:   Page{Title: "Live feed", Path: "/feed", Script: "feed.js"},
			PageID: demo.NewPageID(),
			Quotes: app.Quotes(),
			Rate:   demo.FeedRate,
		}))
	})
	mux.HandleFunc("GET /lab", func(w http.ResponseWriter, r *http.Request) {
		d := LabData{
			Page:   Page{Title: "Transport lab", Path: "/lab", Script: "lab.js"},
			PageID: demo.NewPageID(),
			Rate:   demo.LabRate,
			Tabs:   labTabs,
		}
		if head != nil {
			d.Head = head()
		}
		render(w, r, Lab(d))
	})
	mux.HandleFunc("GET /lab/tab", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > labTabs {
			http.Error(w, "duet/web: n must be 1–"+strconv.Itoa(labTabs), http.StatusBadRequest)
			return
		}
		render(w, r, LabTab(LabTabData{N: n}))
	})
	mux.HandleFunc("GET /lab/startup", func(w http.ResponseWriter, r *http.Request) { render(w, r, LabStartup()) })
}

func itoa(n int) string { return strconv.Itoa(n) }

// refused answers a page whose channel the client may not read (err from
// demo.Allow; nil: it may) and reports whether it did.
func refused(w http.ResponseWriter, err error) bool {
	if err == nil {
		return false
	}
	http.Error(w, "duet/web: refused: "+err.Error(), demo.RefusalStatus(err))
	return true
}
