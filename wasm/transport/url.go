package transport

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/duet-rt/duet/shared"
)

// Endpoints are the URLs of a Duet server's realtime endpoints.
type Endpoints struct {
	// Base is the normalized base URL: absolute http(s), no trailing slash,
	// no query or fragment.
	Base    string
	WS      string // ws(s)://…/rt/ws
	SSE     string // http(s)://…/rt/sse, without the query
	Publish string // http(s)://…/rt/publish
	History string // http(s)://…/rt/history, without the query
	// info is the presence info the streams carry, query-escaped ("" for
	// none): WS has it already, SSEURL adds it.
	info string
}

// withInfo returns e with streams that carry info (JSON) as the client's
// presence info (PROTOCOL.md §9.1), replacing any e carried.
func (e Endpoints) withInfo(info string) Endpoints {
	if i := strings.IndexByte(e.WS, '?'); i >= 0 {
		e.WS = e.WS[:i]
	}
	e.info = ""
	if info != "" {
		e.info = string(appendQueryEscape(nil, info))
		e.WS += "?info=" + e.info
	}
	return e
}

// NewEndpoints derives the endpoints from base, an absolute http or https
// URL under which the server serves /rt/ ("https://example.com" or
// "https://example.com/app/"). JavaScript resolves a relative base against
// the page before it gets here.
func NewEndpoints(base string) (Endpoints, error) {
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, "/")
	var wsScheme string
	switch {
	case hasPrefixFold(base, "http://"):
		wsScheme, base = "ws://", "http://"+base[len("http://"):]
	case hasPrefixFold(base, "https://"):
		wsScheme, base = "wss://", "https://"+base[len("https://"):]
	default:
		return Endpoints{}, errors.New("duet/transport: base URL " + strconv.Quote(base) + " is not an absolute http or https URL")
	}
	rest := base[strings.Index(base, "://")+3:]
	if rest == "" || rest[0] == '/' {
		return Endpoints{}, errors.New("duet/transport: base URL " + strconv.Quote(base) + " has no host")
	}
	return Endpoints{
		Base:    base,
		WS:      wsScheme + rest + "/rt/ws",
		SSE:     base + "/rt/sse",
		Publish: base + "/rt/publish",
		History: base + "/rt/history",
	}, nil
}

// hasPrefixFold reports whether s starts with prefix, a lower-case ASCII
// string, in any case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// SSEURL returns the SSE URL for channels, resuming after lastEventID.
func (e *Endpoints) SSEURL(channels []string, lastEventID string) string {
	b := make([]byte, 0, len(e.SSE)+16*len(channels)+48)
	b = append(b, e.SSE...)
	sep := byte('?')
	for _, c := range channels {
		b = append(b, sep)
		b = append(b, "channel="...)
		b = appendQueryEscape(b, c)
		sep = '&'
	}
	if lastEventID != "" {
		b = append(b, sep)
		b = append(b, "lastEventId="...)
		b = appendQueryEscape(b, lastEventID)
		sep = '&'
	}
	if e.info != "" {
		b = append(b, sep)
		b = append(b, "info="...)
		b = append(b, e.info...)
	}
	return string(b)
}

// appendQueryEscape appends s escaped for a query value: everything but
// RFC 3986's unreserved characters is percent-encoded.
func appendQueryEscape(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// CodeOfHTTP returns the code of a failed HTTP request: the "code" of its
// JSON error body ({"code":N,"message":"…"}) when it has one, else a code
// that has the status's meaning (401 refresh, 429 and 5xx reconnect, other
// 4xx stop).
func CodeOfHTTP(status int, body []byte) *shared.Error {
	if e := decodeErrorBody(body); e != nil {
		return e
	}
	msg := "HTTP status " + strconv.Itoa(status)
	switch {
	case status == 401:
		return shared.NewError(shared.CodeUnauthorized, msg)
	case status == 403:
		return shared.NewError(shared.CodeForbidden, msg)
	case status == 408, status == 429:
		return shared.NewError(shared.CodeRateLimited, msg)
	case status >= 400 && status < 500:
		return shared.NewError(shared.CodeBadRequest, msg)
	}
	return shared.NewError(shared.CodeInternalError, msg)
}

// decodeErrorBody decodes {"code":N,"message":"…"}, or returns nil. The
// frame decoder reads it once a "type" key is put in front.
func decodeErrorBody(body []byte) *shared.Error {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	if i >= len(body) || body[i] != '{' {
		return nil
	}
	p := make([]byte, 0, len(body)+20)
	p = append(p, `{"type":"error",`...)
	p = append(p, body[i+1:]...)
	f, err := shared.DecodeFrame(p)
	if err != nil || f.Code == 0 {
		return nil
	}
	return shared.NewError(f.Code, f.Message)
}

// decodeIDBody decodes the {"id":"ID"} of a successful publish.
func decodeIDBody(body []byte) (string, bool) {
	e, err := shared.DecodeEnvelope(body)
	if err != nil || e.ID == "" {
		return "", false
	}
	return e.ID, true
}

// publishBody returns the body of POST /rt/publish.
func publishBody(channel, event string, data []byte, binary bool) []byte {
	b := make([]byte, 0, len(channel)+len(event)+len(data)*4/3+64)
	b = append(b, `{"channel":`...)
	b = shared.AppendJSONString(b, channel)
	if event != "" {
		b = append(b, `,"event":`...)
		b = shared.AppendJSONString(b, event)
	}
	if binary { // PROTOCOL.md §1.3: base64 and the encoding marker
		b = append(b, `,"data":"`...)
		b = base64.StdEncoding.AppendEncode(b, data)
		return append(b, `","encoding":"base64"}`...)
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
