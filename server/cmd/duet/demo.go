package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/web/demo"
)

// demoHub gives the demo app what it needs from the hub: publishing, and a
// channel's retained history read through the broker.
type demoHub struct{ hub *server.Hub }

func (h demoHub) Publish(ctx context.Context, channel, event string, data []byte) (string, error) {
	id, err := h.hub.Publish(ctx, channel, event, data)
	return id.String(), err
}

// History subscribes a collector from the start of the current epoch, takes
// the replay and unsubscribes. The broker bounds the replay by its history
// settings.
func (h demoHub) History(ctx context.Context, channel string, max int) ([]demo.Message, string, error) {
	b := h.hub.Broker()
	head := b.Head()
	c := &collector{done: make(chan struct{})}
	if err := b.Subscribe(ctx, c, []string{channel}, shared.ID{Epoch: head.Epoch}); err != nil {
		return nil, "", err
	}
	defer b.Unsubscribe(c)
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	msgs := c.resume.Messages
	after := head.String()
	if len(msgs) > 0 {
		after = msgs[len(msgs)-1].Envelope.ID
	}
	if len(msgs) > max {
		msgs = msgs[len(msgs)-max:]
	}
	out := make([]demo.Message, len(msgs))
	for i, m := range msgs {
		out[i] = demo.Message{ID: m.Envelope.ID, Event: m.Envelope.Event, Data: m.Envelope.Data, TS: m.Envelope.TS}
	}
	return out, after, nil
}

// collector is a Subscriber that keeps the replay and ignores live messages.
type collector struct {
	once   sync.Once
	resume *server.Resume
	done   chan struct{}
}

func (c *collector) Deliver(*server.Message) bool { return true }

func (c *collector) Resumed(r *server.Resume) bool {
	c.once.Do(func() {
		c.resume = r
		close(c.done)
	})
	return true
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
