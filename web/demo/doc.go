// Package demo is the server side of Duet's demo app: the chat rooms, the
// per-user notifications, the simulated ticker feed, the transport lab's
// stream and its fault buttons, and the pulse the home page shows.
//
// It talks to the realtime server only through the small Hub interface
// (publish a message, read a channel's retained history) and through Wrap,
// a middleware put in front of the /rt/ endpoints that lets the lab drop,
// restart or refuse a page's connections. It is not a library: every limit
// is a constant sized for a public demo, and every map a client can grow is
// bounded.
package demo
