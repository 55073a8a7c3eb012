package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// Reading presence: GET /rt/presence and the WebSocket presence and
// presence_stats frames, which answer the same question the same way.

// PresenceHandler serves GET /rt/presence?channel=C[&stats=1]:
// {"channel":C,"clients":[{client,user,info?}…],"count":N,"users":U}, or
// with stats=1 the counts only.
func (h *Hub) PresenceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.cors(w, r, "GET") {
			return
		}
		if refuseMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		id, aerr := h.authenticate(r)
		if aerr != nil {
			writeRefusal(w, aerr)
			return
		}
		q := r.URL.Query()
		stats := q.Get("stats") == "1" || q.Get("stats") == "true"
		pub := h.rates.newPublisher(&id, r, false)
		f, err := h.readPresence(r.Context(), &id, &pub, q.Get("channel"), stats)
		if err != nil {
			writeRefusal(w, err)
			return
		}
		body := append([]byte(`{"channel":`), shared.AppendJSONString(nil, f.Channel)...)
		if !stats {
			body = append(body, `,"clients":`...)
			body = shared.AppendPresenceEntries(body, f.Clients)
		}
		body = append(body, `,"count":`...)
		body = strconv.AppendInt(body, f.Count, 10)
		body = append(body, `,"users":`...)
		body = strconv.AppendInt(body, f.Users, 10)
		body = append(body, "}\n"...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}

// presence answers a WebSocket presence or presence_stats frame with a
// frame of the same type and ref, or an error frame.
func (wc *wsConn) presence(f *shared.Frame) {
	out, err := wc.h.readPresence(wc.ctx, &wc.auth.id, &wc.auth.pub, f.Channel, f.Type == shared.TypePresenceStats)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	out.Type, out.Ref = f.Type, f.Ref
	wc.reply(out)
}

// readPresence reads a channel's presence for id, or its counts only
// (stats), as the fields of a presence frame. A read counts against the
// reader's publish rate limits: a full read of a big channel costs the
// server as much as a publish to it.
func (h *Hub) readPresence(ctx context.Context, id *Identity, pub *publisher, channel string, stats bool) (shared.Frame, error) {
	if err := shared.ValidateChannel(channel); err != nil {
		return shared.Frame{}, err
	}
	if !h.presence.enabled(channel) {
		return shared.Frame{}, shared.NewError(shared.CodeBadChannel, "channel "+strconv.Quote(channel)+" has no presence")
	}
	if err := h.authorize(id, PermissionSubscribe, channel); err != nil {
		return shared.Frame{}, err
	}
	if !stats {
		if err := h.rates.allow(pub); err != nil {
			h.metrics.rateLimited.Add(1)
			return shared.Frame{}, err
		}
	}
	f := shared.Frame{Channel: channel}
	if stats {
		s, err := h.presence.store.PresenceStats(ctx, channel)
		if err != nil {
			return shared.Frame{}, presenceUnavailable(err)
		}
		f.Count, f.Users = int64(s.Clients), int64(s.Users)
		return f, nil
	}
	es, err := h.presence.store.Presence(ctx, channel)
	if err != nil {
		return shared.Frame{}, presenceUnavailable(err)
	}
	f.Clients = es
	f.Count = int64(len(es))
	users := make(map[string]struct{})
	for _, e := range es {
		if e.User != "" {
			users[e.User] = struct{}{}
		}
	}
	f.Users = int64(len(users))
	return f, nil
}

// presenceUnavailable is the refusal of a read the store failed.
func presenceUnavailable(err error) error {
	if _, ok := shared.ErrorCode(err); ok {
		return err
	}
	return shared.NewError(shared.CodeBrokerUnavailable, "presence unavailable: "+err.Error())
}
