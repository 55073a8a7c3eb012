// Package demo is the server side of Duet's demo app: the chat rooms, the
// per-user notifications, the simulated ticker feed, the transport lab's
// stream and its fault buttons, and the pulse the home page shows. Package
// web renders its pages.
//
// It talks to the realtime server only through the small Hub interface
// (publish a message, read a channel's retained history) and through Wrap,
// a middleware put in front of the /rt/ endpoints that lets the lab drop,
// restart or refuse a page's connections. It is not a library: every limit
// is a constant sized for a public demo, and every map a client can grow is
// bounded. It does not serve the browser client (package web/client) or
// any page.
//
// Files:
//
//	demo.go     Hub, Config, Demo: New, Run (the generators), Handler (/demo/)
//	http.go     the demo user's cookie, page ids, JSON in and out
//	chat.go     the chat rooms: sending, reading a room's history
//	notify.go   per-user notifications: the inbox, pushing, marking read
//	feed.go     the simulated ticker feed
//	pulse.go    the home page's pulse
//	lab.go      the transport lab's stream and its fault endpoints
//	tracker.go  Wrap: the lab's middleware that tracks, drops and refuses connections
//	access.go   who may use the endpoints (Config.Authorize) and how fast (per user and per address)
//	limit.go    the token-bucket rate limiter per user or page
package demo
