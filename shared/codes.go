package shared

import (
	"errors"
	"strconv"
)

// Code is a close or error code. The same numbers are used as WebSocket close
// codes, in error frames, in the SSE "duet.close" event and in the JSON body
// of failed HTTP requests, so a client needs one table to decide what to do.
//
// Codes 1000–1015 are the WebSocket standard ones; 4000–4999 are Duet's.
// Within Duet's range the hundreds follow HTTP (4400 bad request, 4403
// forbidden, 4429 too many requests...) so they read at a glance.
type Code uint16

// Standard WebSocket close codes Duet uses or may see (RFC 6455, 7.4.1).
const (
	CodeNormal          Code = 1000 // the peer is done; do not reconnect
	CodeGoingAway       Code = 1001 // the server is going down or the page is leaving
	CodeProtocolError   Code = 1002
	CodeUnsupportedData Code = 1003
	CodeNoStatus        Code = 1005 // never sent; reported when a close frame had no code
	CodeAbnormal        Code = 1006 // never sent; the connection dropped without a close frame
	CodeInvalidData     Code = 1007
	CodePolicyViolation Code = 1008
	CodeMessageTooBig   Code = 1009
	CodeInternalError   Code = 1011
	CodeServiceRestart  Code = 1012
	CodeTryAgainLater   Code = 1013
)

// Duet's codes. Each one's Action says what a client does on receiving it.
const (
	// CodeSlowConsumer: the client fell behind and its queue overflowed.
	// Reconnect and resume from the last id; nothing is lost.
	CodeSlowConsumer Code = 4000
	// CodeHeartbeatTimeout: the peer did not answer pings in time.
	CodeHeartbeatTimeout Code = 4001
	// CodeShutdown: the server is shutting down; another node (or this one,
	// restarted) will take the client.
	CodeShutdown Code = 4002
	// CodeBrokerUnavailable: the server lost its broker; retry later.
	CodeBrokerUnavailable Code = 4003
	// CodeIdle: a WebSocket held no channel and sent nothing for the
	// server's idle timeout. Reconnect when there is something to do.
	CodeIdle Code = 4004
	// CodeReplayLimit: a resume asked for more history than the server
	// replays at once; it sent the oldest part and ends the connection.
	// Reconnect at once (no failure: no backoff) and resume from the last
	// id, which the server set to the last replayed message.
	CodeReplayLimit Code = 4005
	// CodeDisconnected: the application disconnected the client from the
	// server side (Hub.DisconnectClient, DisconnectUser) and lets it come
	// back: reconnect and resume.
	CodeDisconnected Code = 4006

	// CodeBadRequest: a malformed frame or request. A client bug: stop.
	CodeBadRequest Code = 4400
	// CodeUnauthorized: credentials are missing or expired. Refresh them and
	// reconnect.
	CodeUnauthorized Code = 4401
	// CodeForbidden: the identity may not do this. Stop.
	CodeForbidden Code = 4403
	// CodeUnknownType: a frame type the server does not know. Not fatal on its
	// own: sent as an error frame, the connection stays open.
	CodeUnknownType Code = 4404
	// CodeRevoked: the application disconnected the client from the server
	// side for good (access revoked, account closed). Stop.
	CodeRevoked Code = 4410
	// CodeTooLarge: a frame or body over the size limit.
	CodeTooLarge Code = 4413
	// CodeBadChannel: a channel name that breaks the naming rules.
	CodeBadChannel Code = 4422
	// CodeTooManyChannels: a connection asked for more channels than allowed.
	CodeTooManyChannels Code = 4423
	// CodeBadID: a resume id that is malformed or from the future.
	CodeBadID Code = 4424
	// CodeRateLimited: too many requests; back off and retry.
	CodeRateLimited Code = 4429
	// CodeInternal: the server failed; retry with backoff.
	CodeInternal Code = 4500
	// CodeOverloaded: the server holds as many connections as it may;
	// retry with backoff (another node may have room).
	CodeOverloaded Code = 4503
)

// Action is what a client does when a connection ends with a code.
type Action uint8

const (
	// ActionReconnect: reconnect with backoff and resume from the last id.
	ActionReconnect Action = iota + 1
	// ActionRefresh: obtain fresh credentials, then reconnect and resume.
	ActionRefresh
	// ActionStop: do not reconnect; report the error to the application.
	ActionStop
)

func (a Action) String() string {
	switch a {
	case ActionReconnect:
		return "reconnect"
	case ActionRefresh:
		return "refresh"
	case ActionStop:
		return "stop"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Action returns what a client does when a connection closes with c.
// Unknown codes in 4000–4399 and 4500–4999 mean reconnect, unknown codes in
// 4400–4499 mean stop, so a newer server can add codes that older clients
// handle sensibly.
func (c Code) Action() Action {
	switch c {
	case CodeNormal, CodeProtocolError, CodeUnsupportedData, CodeInvalidData,
		CodePolicyViolation, CodeMessageTooBig:
		return ActionStop
	case CodeUnauthorized:
		return ActionRefresh
	case CodeRateLimited:
		return ActionReconnect
	}
	if c >= 4400 && c < 4500 {
		return ActionStop
	}
	return ActionReconnect
}

var codeNames = map[Code]string{
	CodeNormal:            "normal closure",
	CodeGoingAway:         "going away",
	CodeProtocolError:     "protocol error",
	CodeUnsupportedData:   "unsupported data",
	CodeNoStatus:          "no status",
	CodeAbnormal:          "abnormal closure",
	CodeInvalidData:       "invalid data",
	CodePolicyViolation:   "policy violation",
	CodeMessageTooBig:     "message too big",
	CodeInternalError:     "internal error",
	CodeServiceRestart:    "service restart",
	CodeTryAgainLater:     "try again later",
	CodeSlowConsumer:      "slow consumer",
	CodeHeartbeatTimeout:  "heartbeat timeout",
	CodeShutdown:          "server shutdown",
	CodeBrokerUnavailable: "broker unavailable",
	CodeIdle:              "idle",
	CodeReplayLimit:       "replay limit",
	CodeDisconnected:      "disconnected",
	CodeRevoked:           "revoked",
	CodeBadRequest:        "bad request",
	CodeUnauthorized:      "unauthorized",
	CodeForbidden:         "forbidden",
	CodeUnknownType:       "unknown frame type",
	CodeTooLarge:          "too large",
	CodeBadChannel:        "bad channel",
	CodeTooManyChannels:   "too many channels",
	CodeBadID:             "bad event id",
	CodeRateLimited:       "rate limited",
	CodeInternal:          "internal error",
	CodeOverloaded:        "overloaded",
}

func (c Code) String() string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return "code " + strconv.Itoa(int(c))
}

// HTTPStatus maps a code to the status of a failed HTTP request
// (POST /rt/publish, or an SSE request refused before streaming).
func (c Code) HTTPStatus() int {
	switch c {
	case CodeBadRequest, CodeBadChannel, CodeTooManyChannels, CodeBadID, CodeUnknownType:
		return 400
	case CodeUnauthorized:
		return 401
	case CodeForbidden:
		return 403
	case CodeTooLarge:
		return 413
	case CodeRateLimited:
		return 429
	case CodeShutdown, CodeBrokerUnavailable, CodeTryAgainLater, CodeServiceRestart, CodeOverloaded:
		return 503
	}
	return 500
}

// Error is an error with a Code, as carried by error frames, close frames
// and HTTP error bodies.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	return "duet: " + e.Message + " (" + strconv.Itoa(int(e.Code)) + " " + e.Code.String() + ")"
}

// NewError returns an *Error. (shared avoids fmt to stay small in the
// browser, hence no Errorf.)
func NewError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// ErrorCode returns the Code of the first *Error in err's chain.
func ErrorCode(err error) (Code, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}
