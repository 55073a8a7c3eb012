package main

import (
	"flag"
	"log/slog"
	"net/http"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/web"
	"github.com/duet-rt/duet/web/demo"
)

// demoFlag is -demo: serve the demo even when authentication is on.
func demoFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("demo", false, "with a -jwt-* key, serve the demo anyway (its endpoints then go through the same authentication and permissions as /rt/; by default the demo is off when authentication is on)")
}

// site returns bin/duet's handler — the realtime endpoints under /rt/,
// /metrics, /dev/token and /dev/session when asked for, the browser client, and the demo —
// and the demo's app, which the caller runs (nil when the demo is off).
//
// With authentication on, the demo is off unless withDemo: its pages have
// no sign-in, so their connections carry no credentials and work only
// where anonymous grants (-anonymous-subscribe, -anonymous-publish) cover
// the demo's channels. When it is on, every demo endpoint that publishes
// or reads history on a client's behalf asks the hub's Check, as /rt/
// does: the demo is never a way around them.
func site(hub *server.Hub, authOn, withDemo bool, devTokens http.Handler, log *slog.Logger) (http.Handler, *demo.Demo, error) {
	mux := http.NewServeMux()
	rt := hub.Handler()
	mux.Handle("/metrics", metricsHandler(hub))
	if devTokens != nil {
		mux.Handle("/dev/", devTokens)
	}
	head := func() string { return hub.Head().String() }
	if authOn && !withDemo {
		log.Info("duet: the demo is off while authentication is on (-demo serves it, through the same checks as /rt/)")
		mux.Handle("/rt/", rt)
		mux.Handle("/", web.Handler(head, nil)) // the browser client, and the pages that need no server side
		return mux, nil, nil
	}
	app, err := newDemo(hub)
	if err != nil {
		return nil, nil, err
	}
	mux.Handle("/rt/", app.Wrap(rt))
	mux.Handle("/", web.Handler(head, app))
	return mux, app, nil
}
