package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/duet-rt/duet/shared"
)

// publishRequest is the body of POST /rt/publish.
type publishRequest struct {
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	// Encoding "base64" means data is a base64 string of raw bytes.
	Encoding string `json:"encoding"`
}

// PublishHandler serves POST /rt/publish: body {"channel":"C","event":"E",
// "data":<JSON>} answered by 200 {"id":"ID"} once the message is stored.
func (h *Hub) PublishHandler() http.Handler { return h.bodyDeadline(http.HandlerFunc(h.servePublish)) }

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.cors(w, r, "POST") {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeErrorStatus(w, http.StatusMethodNotAllowed, shared.NewError(shared.CodeBadRequest, "method "+r.Method+" not allowed: use POST"))
		return
	}
	if err := h.checkCrossOrigin(r); err != nil {
		writeRefusal(w, err)
		return
	}
	id, aerr := h.authenticate(r)
	if aerr != nil {
		writeAuthError(w, aerr)
		return
	}
	// Requiring application/json also means a cross-site page cannot post
	// without a CORS preflight, which a plain form or no-cors fetch cannot do.
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		writeErrorStatus(w, http.StatusUnsupportedMediaType, shared.NewError(shared.CodeBadRequest, "Content-Type "+quote(ct)+" not supported: send application/json"))
		return
	}
	// The envelope around data is small; allow it on top of the data limit,
	// and room for base64 (4 bytes per 3) when data is binary.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxPublishBytes/3*4+1024))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, shared.NewError(shared.CodeTooLarge, "body is over the limit of "+itoa(h.cfg.MaxPublishBytes)+" bytes of data"))
			return
		}
		writeError(w, shared.NewError(shared.CodeBadRequest, "cannot read body: "+err.Error()))
		return
	}
	var req publishRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, shared.NewError(shared.CodeBadRequest, "body is not a JSON object {\"channel\",\"event\",\"data\"}: "+err.Error()))
		return
	}
	pub := h.guard.newPublisher(&id, r, false)
	if err := h.admitPublish(&id, &pub, req.Channel); err != nil {
		writeRefusal(w, err)
		return
	}
	data, binary, err := publishRequestData(&req)
	var m *Message
	if err == nil && binary {
		m, err = h.publishBinary(r.Context(), req.Channel, req.Event, data)
	} else if err == nil {
		m, err = h.publish(r.Context(), req.Channel, req.Event, data)
	}
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(shared.AppendJSONString([]byte(`{"id":`), m.Envelope.ID), "}\n"...))
}

// writeErrorStatus is writeError with an HTTP status the code does not imply.
func writeErrorStatus(w http.ResponseWriter, status int, e *shared.Error) {
	body := append([]byte(`{"code":`), itoa(int64(e.Code))...)
	body = append(body, `,"message":`...)
	body = shared.AppendJSONString(body, e.Message)
	body = append(body, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
