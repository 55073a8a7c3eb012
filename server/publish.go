package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Every way in for a publish: Hub.Publish, PublishJSON and PublishBinary
// for Go code, POST /rt/publish, and the WebSocket's publish frames
// (wsConn.publish), JSON or binary. All of them pass checkPublish; those
// from clients pass admitPublish first.

// Publish publishes data (a JSON value) to channel as event ("" means
// "message") and returns the message's id once the broker has stored it.
// WithIdempotencyKey makes a retry safe.
func (h *Hub) Publish(ctx context.Context, channel, event string, data []byte, opts ...PublishOption) (shared.ID, error) {
	return h.publish(ctx, channel, event, data, collectPublishOptions(opts))
}

// PublishJSON is Publish with v marshalled by encoding/json.
func (h *Hub) PublishJSON(ctx context.Context, channel, event string, v any, opts ...PublishOption) (shared.ID, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return shared.ID{}, fmt.Errorf("duet/server: cannot marshal data: %w", err)
	}
	return h.Publish(ctx, channel, event, data, opts...)
}

// checkPublish checks what every publish must satisfy, JSON or binary.
func (h *Hub) checkPublish(channel, event string, data []byte) error {
	if err := shared.ValidateChannel(channel); err != nil {
		return err
	}
	if err := shared.ValidateEvent(event); err != nil {
		return err
	}
	if int64(len(data)) > h.cfg.MaxPublishBytes {
		return shared.NewError(shared.CodeTooLarge, "data is over the limit of "+strconv.FormatInt(h.cfg.MaxPublishBytes, 10)+" bytes")
	}
	return nil
}

func (h *Hub) publish(ctx context.Context, channel, event string, data []byte, o publishOptions) (shared.ID, error) {
	if err := h.checkPublish(channel, event, data); err != nil {
		return shared.ID{}, err
	}
	if len(data) == 0 {
		return shared.ID{}, shared.NewError(shared.CodeBadRequest, "data is missing: send a JSON value (null is fine)")
	}
	if !shared.ValidJSON(data) {
		return shared.ID{}, shared.NewError(shared.CodeBadRequest, "data is not a valid JSON value")
	}
	if event == "" {
		event = shared.DefaultEvent
	}
	// Own the bytes: data may alias a whole WebSocket read buffer (or a
	// caller's reused buffer), which history would otherwise keep alive.
	return h.store(ctx, channel, event, bytes.Clone(data), false, o)
}

// PublishBinary publishes data (any bytes, empty included) to channel as
// event ("" means "message") and returns the message's id once the broker
// has stored it. The hub's broker must be a BinaryBroker. The message keeps
// its own copy of data.
func (h *Hub) PublishBinary(ctx context.Context, channel, event string, data []byte, opts ...PublishOption) (shared.ID, error) {
	return h.publishBinary(ctx, channel, event, data, collectPublishOptions(opts))
}

func (h *Hub) publishBinary(ctx context.Context, channel, event string, data []byte, o publishOptions) (shared.ID, error) {
	if err := h.checkPublish(channel, event, data); err != nil {
		return shared.ID{}, err
	}
	if event == "" {
		event = shared.DefaultEvent
	}
	// Own the bytes, as publish does: data may alias a read buffer or a
	// caller's reused one.
	return h.store(ctx, channel, event, bytes.Clone(data), true, o)
}

// publishFrame publishes a JSON publish frame: its data is JSON, or bytes
// when it came base64-encoded.
func (h *Hub) publishFrame(ctx context.Context, f *shared.Frame) (shared.ID, error) {
	o := publishOptions{key: f.IdempotencyKey}
	if f.Binary {
		return h.publishBinary(ctx, f.Channel, f.Event, f.Data, o)
	}
	return h.publish(ctx, f.Channel, f.Event, f.Data, o)
}

// admitPublish checks a publish of id on channel: credentials still valid,
// permission, rate limits.
func (h *Hub) admitPublish(id *Identity, p *publisher, channel string) error {
	if !id.Expires.IsZero() && !time.Now().Before(id.Expires) {
		return shared.NewError(shared.CodeUnauthorized, "credentials expired: refresh them")
	}
	if err := shared.ValidateChannel(channel); err != nil {
		return err // a bad name says so, rather than "forbidden"
	}
	if err := h.authorize(id, PermissionPublish, channel); err != nil {
		return err
	}
	if err := h.rates.allow(p); err != nil {
		h.metrics.rateLimited.Add(1)
		return err
	}
	return nil
}

// publishRequest is the body of POST /rt/publish.
type publishRequest struct {
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	// Encoding "base64" means data is a base64 string of raw bytes.
	Encoding string `json:"encoding"`
}

// PublishHandler serves POST /rt/publish: body {"channel":"C","event":"E",
// "data":<JSON>} answered by 200 {"id":"ID"} once the message is stored. An
// Idempotency-Key header makes a retry answer the first publish's id.
func (h *Hub) PublishHandler() http.Handler { return h.bodyDeadline(http.HandlerFunc(h.servePublish)) }

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.cors(w, r, "POST") {
		return
	}
	if refuseMethod(w, r, http.MethodPost) {
		return
	}
	if err := h.checkCrossOrigin(r); err != nil {
		writeRefusal(w, err)
		return
	}
	id, aerr := h.authenticate(r)
	if aerr != nil {
		writeRefusal(w, aerr)
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
			writeError(w, shared.NewError(shared.CodeTooLarge, "body is over the limit of "+strconv.FormatInt(h.cfg.MaxPublishBytes, 10)+" bytes of data"))
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
	pub := h.rates.newPublisher(&id, r, false)
	if err := h.admitPublish(&id, &pub, req.Channel); err != nil {
		writeRefusal(w, err)
		return
	}
	data, binary, err := publishRequestData(&req)
	o := publishOptions{key: r.Header.Get("Idempotency-Key")}
	var msgID shared.ID
	if err == nil && binary {
		msgID, err = h.publishBinary(r.Context(), req.Channel, req.Event, data, o)
	} else if err == nil {
		msgID, err = h.publish(r.Context(), req.Channel, req.Event, data, o)
	}
	if err != nil {
		h.metrics.badRequests.Add(1)
		writeError(w, protocolError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(shared.AppendJSONString([]byte(`{"id":`), msgID.String()), "}\n"...))
}

// publishRequestData returns the data of a POST /rt/publish body: JSON, or
// with "encoding":"base64" the bytes of a base64 string.
func publishRequestData(req *publishRequest) (data []byte, binary bool, err error) {
	switch req.Encoding {
	case "":
		return req.Data, false, nil
	case shared.EncodingBase64:
		var b []byte // encoding/json reads a base64 string into []byte
		if len(req.Data) == 0 || req.Data[0] != '"' || json.Unmarshal(req.Data, &b) != nil {
			return nil, false, shared.NewError(shared.CodeBadRequest, `"data" must be a base64 string when "encoding" is "base64"`)
		}
		if b == nil {
			b = []byte{}
		}
		return b, true, nil
	}
	return nil, false, shared.NewError(shared.CodeBadRequest, "unknown encoding "+quote(req.Encoding)+`: leave it out for JSON data, or use "base64"`)
}

// bodyDeadline gives a request's body Config.BodyTimeout to arrive, so a
// client trickling a POST body byte by byte cannot hold a handler.
func (h *Hub) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := h.cfg.BodyTimeout; d > 0 {
			// Not every ResponseWriter supports deadlines (httptest's
			// recorder does not); the body size limit still holds there.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
