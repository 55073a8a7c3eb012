package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/duet-rt/duet/shared"
)

// How the hub tells a client no: protocolError picks the code, the write*
// functions answer an HTTP request with it (a JSON body
// {"code":N,"message":"…"}), and truncateReason fits it in a WebSocket close
// frame.

// protocolError maps any error to the code and message a client is told.
func protocolError(err error) *shared.Error {
	var e *shared.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrFutureID):
		return shared.NewError(shared.CodeBadID, "lastEventId is from the future: this server never issued it")
	case errors.Is(err, ErrBrokerClosed):
		return shared.NewError(shared.CodeShutdown, "the server is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return shared.NewError(shared.CodeTryAgainLater, "request cancelled or timed out")
	}
	return shared.NewError(shared.CodeInternal, "internal error")
}

// writeError writes a failed HTTP response: the code's status and a JSON
// body {"code":N,"message":"…"}.
func writeError(w http.ResponseWriter, e *shared.Error) {
	writeErrorStatus(w, e.Code.HTTPStatus(), e)
}

// writeErrorStatus is writeError with an HTTP status the code does not imply.
func writeErrorStatus(w http.ResponseWriter, status int, e *shared.Error) {
	body := append([]byte(`{"code":`), strconv.Itoa(int(e.Code))...)
	body = append(body, `,"message":`...)
	body = shared.AppendJSONString(body, e.Message)
	body = append(body, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeRefusal answers a request refused by authentication, permissions or
// a rate limit: a 401 names the scheme to use, a 429 says when to retry.
func writeRefusal(w http.ResponseWriter, err error) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		secs := int64(math.Ceil(rl.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	e := protocolError(err)
	if e.Code == shared.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="duet"`)
	}
	writeError(w, e)
}

// refuseMethod answers 405, with an Allow header, to a request whose method
// is neither use nor one of also, and reports whether it did.
func refuseMethod(w http.ResponseWriter, r *http.Request, use string, also ...string) bool {
	if r.Method == use || slices.Contains(also, r.Method) {
		return false
	}
	w.Header().Set("Allow", strings.Join(append([]string{use}, also...), ", "))
	writeErrorStatus(w, http.StatusMethodNotAllowed, shared.NewError(shared.CodeBadRequest, "method "+r.Method+" not allowed: use "+use))
	return true
}

// truncateReason cuts a close reason to the 123 bytes a close frame holds,
// at a character boundary.
func truncateReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	n := 123
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// quote quotes a client's string for an error message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
