package demo

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Hub is what the demo needs from the realtime server.
type Hub interface {
	// Publish publishes data (a JSON value) to channel as event and returns
	// the message's id.
	Publish(ctx context.Context, channel, event string, data []byte) (string, error)
	// History returns up to max of the newest retained messages of channel,
	// oldest first, and the id a client resumes after to get every later
	// message of channel exactly once.
	History(ctx context.Context, channel string, max int) ([]Message, string, error)
}

// Message is a retained message, as History returns it.
type Message struct {
	ID    string
	Event string
	Data  json.RawMessage
	TS    int64 // server clock, Unix ms
}

// Config configures a Demo.
type Config struct {
	// Hub publishes and reads history. Required.
	Hub Hub
	// ReconnectCause is the cancellation cause that makes the hub tell a
	// client to reconnect (server.ErrReconnect). Without it the lab's
	// "restart" drops connections like "drop" does.
	ReconnectCause error
	// Observe lets the lab follow the connections requests open:
	// server.WithConnObserver, wrapped to take a plain function. Without it
	// the lab can neither count nor end connections.
	Observe func(ctx context.Context, opened func(end func(cause error)) (closed func())) context.Context
	// Logger receives the generators' publish errors. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Authorize decides whether r's client may publish on (publish true)
	// or read channel, before the demo does so on its behalf: bin/duet
	// gives it the hub's Check, so the demo is no way around the rules of
	// /rt/. A *shared.Error refuses with its code's HTTP status, another
	// error with 403. Nil lets everyone.
	Authorize func(r *http.Request, channel string, publish bool) error
}

// Demo is the demo app's server side. Its handlers serve under /demo/;
// Run drives the generators.
type Demo struct {
	hub    Hub
	log    *slog.Logger
	conns  *tracker
	users  *users
	feed   *ticker
	lab    *labStream
	pulse  lease
	limits *limiter // per demo user (and per page)
	// addrLimits is per client address.
	addrLimits *limiter

	authorize func(r *http.Request, channel string, publish bool) error
}

// New returns a Demo.
func New(cfg Config) (*Demo, error) {
	if cfg.Hub == nil {
		return nil, errors.New("duet/demo: Config.Hub is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Demo{
		hub:    cfg.Hub,
		log:    log,
		conns:  newTracker(cfg.ReconnectCause, cfg.Observe),
		users:  newUsers(),
		feed:   newTicker(),
		lab:    &labStream{},
		limits: newLimiter(),

		addrLimits: newAddrLimiter(),

		authorize: cfg.Authorize,
	}, nil
}

// Run runs the generators (the ticker feed, the lab stream, the home page's
// pulse), each only while a page watches it, until ctx ends.
func (d *Demo) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){d.runFeed, d.runLab, d.runPulse} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	wg.Wait()
}

// Handler serves the demo's API under /demo/ (mount it at /demo/).
func (d *Demo) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /demo/chat/send", d.serveChatSend)
	mux.HandleFunc("POST /demo/notify/push", d.serveNotifyPush)
	mux.HandleFunc("POST /demo/notify/read", d.serveNotifyRead)
	mux.HandleFunc("POST /demo/feed/watch", d.serveFeedWatch)
	mux.HandleFunc("POST /demo/lab/watch", d.serveLabWatch)
	mux.HandleFunc("POST /demo/lab/drop", d.serveLabDrop)
	mux.HandleFunc("POST /demo/lab/restart", d.serveLabRestart)
	mux.HandleFunc("POST /demo/lab/block", d.serveLabBlock)
	mux.HandleFunc("GET /demo/live", d.serveLive)
	mux.HandleFunc("POST /demo/pulse/watch", d.servePulseWatch)
	return mux
}

// publishJSON publishes v with a bounded wait.
func (d *Demo) publishJSON(ctx context.Context, channel, event string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return d.hub.Publish(ctx, channel, event, data)
}

// tick runs f every period until ctx ends.
func tick(ctx context.Context, period time.Duration, f func(now time.Time)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}
