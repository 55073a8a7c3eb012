package server

import (
	"net/http"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// GET /rt/history and the WebSocket history frame: a page of a channel's
// history for a client that may subscribe to it.

// HistoryHandler serves GET /rt/history?channel=C[&since=ID][&limit=N]
// [&reverse=1], answered by 200 {"channel":C,"messages":[envelopes in id
// order],"complete":bool,"next":ID}. It requires the subscribe permission
// on C.
func (h *Hub) HistoryHandler() http.Handler { return http.HandlerFunc(h.serveHistory) }

func (h *Hub) serveHistory(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.cors(w, r, "GET") {
		return
	}
	if refuseMethod(w, r, http.MethodGet) {
		return
	}
	id, aerr := h.authenticate(r)
	if aerr != nil {
		writeRefusal(w, aerr)
		return
	}
	q := r.URL.Query()
	channel := q.Get("channel")
	query, err := parseHistoryQuery(q.Get("since"), q.Get("limit"), q.Get("reverse"))
	if err == nil {
		err = shared.ValidateChannel(channel)
	}
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	if err := h.authorize(&id, PermissionSubscribe, channel); err != nil {
		writeRefusal(w, err)
		return
	}
	h.writeHistory(w, r, channel, query)
}

// writeHistory answers with the page query selects of channel.
func (h *Hub) writeHistory(w http.ResponseWriter, r *http.Request, channel string, query HistoryQuery) {
	page, err := h.History(r.Context(), channel, query)
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(shared.AppendHistoryPage(nil, channel, envelopes(page.Messages), page.Complete, idString(page.Next)), '\n'))
}

// parseHistoryQuery reads a history request's since, limit and reverse, as
// a query string or a history frame gives them ("" for absent).
func parseHistoryQuery(since, limit, reverse string) (HistoryQuery, error) {
	var q HistoryQuery
	var err error
	if q.Since, err = parseResumeID(since); err != nil {
		return q, err
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 {
			return q, shared.NewError(shared.CodeBadRequest, "limit "+quote(limit)+" is not a positive integer")
		}
		q.Limit = n
	}
	switch reverse {
	case "", "0", "false":
	case "1", "true":
		q.Reverse = true
	default:
		return q, shared.NewError(shared.CodeBadRequest, "reverse "+quote(reverse)+" is not 1 or 0")
	}
	return q, nil
}

// history answers a history frame with a history frame or an error.
func (wc *wsConn) history(f *shared.Frame) {
	if err := shared.ValidateChannel(f.Channel); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	if err := wc.h.authorize(&wc.auth.id, PermissionSubscribe, f.Channel); err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	if f.Limit < 0 || f.Limit > int64(wc.h.cfg.MaxHistoryLimit) {
		wc.replyErr(f.Ref, shared.NewError(shared.CodeBadRequest, "history limit must be between 1 and "+strconv.Itoa(wc.h.cfg.MaxHistoryLimit)))
		return
	}
	q, err := parseHistoryQuery(f.Since, "", "")
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	q.Limit, q.Reverse = int(f.Limit), f.Reverse
	page, err := wc.h.History(wc.ctx, f.Channel, q)
	if err != nil {
		wc.replyErr(f.Ref, err)
		return
	}
	wc.reply(shared.Frame{Type: shared.TypeHistory, Ref: f.Ref, Channel: f.Channel, Messages: envelopes(page.Messages), Complete: page.Complete, Next: idString(page.Next)})
}

// envelopes returns the envelopes of ms, never nil.
func envelopes(ms []*Message) []shared.Envelope {
	out := make([]shared.Envelope, len(ms))
	for i, m := range ms {
		out[i] = m.Envelope
	}
	return out
}

// idString is id's text, or "" for the zero id.
func idString(id shared.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}
