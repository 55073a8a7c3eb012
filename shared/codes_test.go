package shared

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

// codeTable lists every Code constant with its meaning. TestCodeTableIsComplete
// keeps it in step with codes.go.
var codeTable = []struct {
	name   string
	code   Code
	value  int
	text   string
	action Action
	status int
}{
	{"CodeNormal", CodeNormal, 1000, "normal closure", ActionStop, 500},
	{"CodeGoingAway", CodeGoingAway, 1001, "going away", ActionReconnect, 500},
	{"CodeProtocolError", CodeProtocolError, 1002, "protocol error", ActionStop, 500},
	{"CodeUnsupportedData", CodeUnsupportedData, 1003, "unsupported data", ActionStop, 500},
	{"CodeNoStatus", CodeNoStatus, 1005, "no status", ActionReconnect, 500},
	{"CodeAbnormal", CodeAbnormal, 1006, "abnormal closure", ActionReconnect, 500},
	{"CodeInvalidData", CodeInvalidData, 1007, "invalid data", ActionStop, 500},
	{"CodePolicyViolation", CodePolicyViolation, 1008, "policy violation", ActionStop, 500},
	{"CodeMessageTooBig", CodeMessageTooBig, 1009, "message too big", ActionStop, 500},
	{"CodeInternalError", CodeInternalError, 1011, "internal error", ActionReconnect, 500},
	{"CodeServiceRestart", CodeServiceRestart, 1012, "service restart", ActionReconnect, 503},
	{"CodeTryAgainLater", CodeTryAgainLater, 1013, "try again later", ActionReconnect, 503},

	{"CodeSlowConsumer", CodeSlowConsumer, 4000, "slow consumer", ActionReconnect, 500},
	{"CodeHeartbeatTimeout", CodeHeartbeatTimeout, 4001, "heartbeat timeout", ActionReconnect, 500},
	{"CodeShutdown", CodeShutdown, 4002, "server shutdown", ActionReconnect, 503},
	{"CodeBrokerUnavailable", CodeBrokerUnavailable, 4003, "broker unavailable", ActionReconnect, 503},
	{"CodeIdle", CodeIdle, 4004, "idle", ActionReconnect, 500},
	{"CodeReplayLimit", CodeReplayLimit, 4005, "replay limit", ActionReconnect, 500},
	{"CodeDisconnected", CodeDisconnected, 4006, "disconnected", ActionReconnect, 500},
	{"CodeBadRequest", CodeBadRequest, 4400, "bad request", ActionStop, 400},
	{"CodeUnauthorized", CodeUnauthorized, 4401, "unauthorized", ActionRefresh, 401},
	{"CodeForbidden", CodeForbidden, 4403, "forbidden", ActionStop, 403},
	{"CodeUnknownType", CodeUnknownType, 4404, "unknown frame type", ActionStop, 400},
	{"CodeRevoked", CodeRevoked, 4410, "revoked", ActionStop, 500},
	{"CodeTooLarge", CodeTooLarge, 4413, "too large", ActionStop, 413},
	{"CodeBadChannel", CodeBadChannel, 4422, "bad channel", ActionStop, 400},
	{"CodeTooManyChannels", CodeTooManyChannels, 4423, "too many channels", ActionStop, 400},
	{"CodeBadID", CodeBadID, 4424, "bad event id", ActionStop, 400},
	{"CodeRateLimited", CodeRateLimited, 4429, "rate limited", ActionReconnect, 429},
	{"CodeInternal", CodeInternal, 4500, "internal error", ActionReconnect, 500},
	{"CodeOverloaded", CodeOverloaded, 4503, "overloaded", ActionReconnect, 503},
}

func TestCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range codeTable {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, "value", int(tc.code), tc.value)
			assert.Equal(t, "String", tc.code.String(), tc.text)
			assert.Equal(t, "Action", tc.code.Action(), tc.action)
			assert.Equal(t, "HTTPStatus", tc.code.HTTPStatus(), tc.status)
			if in := tc.value >= 1000 && tc.value <= 1015 || tc.value >= 4000 && tc.value <= 4999; !in {
				t.Fatalf("%d is neither a standard WebSocket code nor in Duet's range", tc.value)
			}
		})
	}
}

// TestCodeTableIsComplete reads codes.go so that a code added there without
// a row in codeTable fails here.
func TestCodeTableIsComplete(t *testing.T) {
	t.Parallel()
	file, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, parser.SkipObjectResolution)
	assert.NoError(t, err)
	var defined []string
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Code" {
				for _, n := range vs.Names {
					defined = append(defined, n.Name)
				}
			}
		}
	}
	var listed []string
	for _, tc := range codeTable {
		listed = append(listed, tc.name)
	}
	slices.Sort(defined)
	slices.Sort(listed)
	assert.Equal(t, "Code constants in codes.go vs codeTable", listed, defined)
}

func TestUnknownCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code Code
		want Action
	}{
		// Unknown Duet codes: the hundreds decide.
		{4007, ActionReconnect},
		{4100, ActionReconnect},
		{4399, ActionReconnect},
		{4402, ActionStop},
		{4405, ActionStop},
		{4430, ActionStop},
		{4499, ActionStop},
		{4501, ActionReconnect},
		{4502, ActionReconnect},
		{4999, ActionReconnect},
		// Unknown standard, registered and private codes: reconnect.
		{0, ActionReconnect},
		{999, ActionReconnect},
		{1004, ActionReconnect},
		{1010, ActionReconnect},
		{1014, ActionReconnect},
		{1015, ActionReconnect},
		{2000, ActionReconnect},
		{3000, ActionReconnect},
		{3999, ActionReconnect},
		{5000, ActionReconnect},
		{65535, ActionReconnect},
	} {
		t.Run(strconv.Itoa(int(tc.code)), func(t *testing.T) {
			assert.Equal(t, "Action", tc.code.Action(), tc.want)
			assert.Equal(t, "String", tc.code.String(), "code "+strconv.Itoa(int(tc.code)))
			assert.Equal(t, "HTTPStatus", tc.code.HTTPStatus(), 500)
		})
	}
}

func TestActionString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "reconnect", ActionReconnect.String(), "reconnect")
	assert.Equal(t, "refresh", ActionRefresh.String(), "refresh")
	assert.Equal(t, "stop", ActionStop.String(), "stop")
	assert.Equal(t, "zero", Action(0).String(), "action(0)")
	assert.Equal(t, "unknown", Action(9).String(), "action(9)")
}

func TestError(t *testing.T) {
	t.Parallel()
	e := NewError(CodeBadChannel, `channel name "a b" has a forbidden character`)
	assert.Equal(t, "Error", e.Error(), `duet: channel name "a b" has a forbidden character (4422 bad channel)`)
	assert.Equal(t, "unknown code", NewError(4999, "x").Error(), "duet: x (4999 code 4999)")
	assert.Equal(t, "fields", *e, Error{Code: CodeBadChannel, Message: `channel name "a b" has a forbidden character`})
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	base := NewError(CodeRateLimited, "slow down")
	for _, tc := range []struct {
		name string
		err  error
		code Code
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain error", errors.New("boom"), 0, false},
		{"an Error", base, CodeRateLimited, true},
		{"wrapped", fmt.Errorf("publish: %w", base), CodeRateLimited, true},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", base)), CodeRateLimited, true},
		{"joined", errors.Join(errors.New("other"), base), CodeRateLimited, true},
		{"first of two", fmt.Errorf("%w, %w", NewError(CodeForbidden, "no"), base), CodeForbidden, true},
		{"formatted, not wrapped", fmt.Errorf("publish: %v", base), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ok := ErrorCode(tc.err)
			assert.Equal(t, "code", code, tc.code)
			assert.Equal(t, "ok", ok, tc.ok)
			var e *Error
			assert.Equal(t, "errors.As", errors.As(tc.err, &e), tc.ok)
		})
	}
}
