package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/duet-rt/duet/shared"
)

// The admin API: server-side control over HTTP for applications not written
// in Go. Off unless Config.AdminKey is set; every request carries
// "Authorization: Bearer <key>", compared in constant time.
//
//	POST /rt/admin/disconnect   {"client":ID | "user":U, "code":4006|4410, "reason":"…"} → {"disconnected":N}
//	POST /rt/admin/unsubscribe  {"client":ID | "user":U, "channel":C}                 → {"unsubscribed":N}
//	POST /rt/admin/broadcast    {"channels":[C…], "event":E, "data":<JSON>}          → {"ids":[ID…]}
//	GET  /rt/admin/channels?prefix=P                                                 → {"channels":[{"channel":C,"subscribers":N}…]}
//	GET  /rt/admin/history?channel=C[&since=ID][&limit=N][&reverse=1]                → as GET /rt/history

// minAdminKeyBytes is the shortest Config.AdminKey NewHub accepts.
const minAdminKeyBytes = 16

// AdminHandler serves the admin API under /rt/admin/. Without
// Config.AdminKey it answers 404 to everything.
func (h *Hub) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/rt/admin/disconnect", h.adminDisconnect)
	mux.HandleFunc("/rt/admin/unsubscribe", h.adminUnsubscribe)
	mux.HandleFunc("/rt/admin/broadcast", h.adminBroadcast)
	mux.HandleFunc("/rt/admin/channels", h.adminChannels)
	mux.HandleFunc("/rt/admin/history", h.adminHistory)
	want := sha256.Sum256([]byte(h.cfg.AdminKey))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if h.cfg.AdminKey == "" {
			http.NotFound(w, r)
			return
		}
		// Hashes of equal length, compared in constant time: neither the
		// key nor its length leaks through timing.
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(key))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="duet-admin"`)
			writeError(w, shared.NewError(shared.CodeUnauthorized, "the admin API needs Authorization: Bearer <admin key>"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// adminBody reads an admin request's JSON body into v, bounded by
// Config.MaxAdminBytes; false when it answered with an error.
func (h *Hub) adminBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if refuseMethod(w, r, http.MethodPost) {
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxAdminBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, shared.NewError(shared.CodeTooLarge, "body is over the limit of "+strconv.FormatInt(h.cfg.MaxAdminBytes, 10)+" bytes"))
			return false
		}
		writeError(w, shared.NewError(shared.CodeBadRequest, "cannot read body: "+err.Error()))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, shared.NewError(shared.CodeBadRequest, "body is not the JSON object this endpoint takes: "+err.Error()))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	p, _ := json.Marshal(v)
	_, _ = w.Write(append(p, '\n'))
}

func (h *Hub) adminDisconnect(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Client, User string
		Code         shared.Code
		Reason       string
	}
	if !h.adminBody(w, r, &req) {
		return
	}
	n, err := h.DisconnectClients(r.Context(), Target{Client: req.Client, User: req.User}, Disconnect{Code: req.Code, Reason: req.Reason})
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	writeJSON(w, map[string]int{"disconnected": n})
}

func (h *Hub) adminUnsubscribe(w http.ResponseWriter, r *http.Request) {
	var req struct{ Client, User, Channel string }
	if !h.adminBody(w, r, &req) {
		return
	}
	n, err := h.UnsubscribeClients(r.Context(), Target{Client: req.Client, User: req.User}, req.Channel)
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	writeJSON(w, map[string]int{"unsubscribed": n})
}

func (h *Hub) adminBroadcast(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Channels []string
		Event    string
		Data     json.RawMessage
	}
	if !h.adminBody(w, r, &req) {
		return
	}
	ids, err := h.Broadcast(r.Context(), req.Channels, req.Event, req.Data, WithIdempotencyKey(r.Header.Get("Idempotency-Key")))
	if err != nil {
		e := protocolError(err)
		if len(ids) > 0 {
			e = shared.NewError(e.Code, e.Message+" (published to the first "+strconv.Itoa(len(ids))+" channels)")
		}
		writeError(w, e)
		return
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	writeJSON(w, map[string][]string{"ids": out})
}

func (h *Hub) adminChannels(w http.ResponseWriter, r *http.Request) {
	if refuseMethod(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, map[string][]ChannelCount{"channels": h.Channels(r.URL.Query().Get("prefix"))})
}

func (h *Hub) adminHistory(w http.ResponseWriter, r *http.Request) {
	if refuseMethod(w, r, http.MethodGet) {
		return
	}
	q := r.URL.Query()
	query, err := parseHistoryQuery(q.Get("since"), q.Get("limit"), q.Get("reverse"))
	if err != nil {
		writeError(w, protocolError(err))
		return
	}
	h.writeHistory(w, r, q.Get("channel"), query)
}
