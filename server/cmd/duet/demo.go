package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/web/demo"
)

// demoHub gives the demo app what it needs from the hub: publishing, and
// a page of a channel's history.
type demoHub struct{ hub *server.Hub }

func (h demoHub) Publish(ctx context.Context, channel, event string, data []byte) (string, error) {
	id, err := h.hub.Publish(ctx, channel, event, data)
	return id.String(), err
}

// History returns the newest max messages of channel and the id to resume
// from after them: the last one's, or the head read before the page (so
// nothing published meanwhile is missed).
func (h demoHub) History(ctx context.Context, channel string, max int) ([]demo.Message, string, error) {
	head := h.hub.Head()
	page, err := h.hub.History(ctx, channel, server.HistoryQuery{Limit: max})
	if err != nil {
		return nil, "", err
	}
	after := head.String()
	if n := len(page.Messages); n > 0 {
		after = page.Messages[n-1].Envelope.ID
	}
	out := make([]demo.Message, len(page.Messages))
	for i, m := range page.Messages {
		out[i] = demo.Message{ID: m.Envelope.ID, Event: m.Envelope.Event, Data: m.Envelope.Data, TS: m.Envelope.TS}
	}
	return out, after, nil
}

// newDemo returns the demo app over hub.
func newDemo(hub *server.Hub) (*demo.Demo, error) {
	d, err := demo.New(demo.Config{
		Hub:            demoHub{hub},
		ReconnectCause: server.ErrReconnect,
		Observe: func(ctx context.Context, opened func(end func(error)) func()) context.Context {
			return server.WithConnObserver(ctx, opened)
		},
		Authorize: func(r *http.Request, channel string, publish bool) error {
			perm := server.PermissionSubscribe
			if publish {
				perm = server.PermissionPublish
			}
			_, err := hub.Check(r, perm, channel)
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start the demo: %w", err)
	}
	return d, nil
}
