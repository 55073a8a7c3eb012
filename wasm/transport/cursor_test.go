package transport

import (
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

func TestCursor(t *testing.T) {
	tests := []struct {
		name   string
		start  string
		ids    []string
		accept []bool
		last   string
	}{
		{"empty accepts all", "", []string{"1-1", "1-2"}, []bool{true, true}, "1-2"},
		{"drops seen and older", "5-10", []string{"5-9", "5-10", "5-11", "5-11"}, []bool{false, false, true, false}, "5-11"},
		{"a new epoch is new", "5-10", []string{"6-1", "6-1", "6-2"}, []bool{true, false, true}, "6-2"},
		// Before, an unparsable id reset the cursor: 5-3 passed after 5-10
		// (FuzzConnReceive: 7-3, "0", 7-3 delivered 7-3 twice).
		{"unparsable ids pass, the cursor stays", "5-10", []string{"x", "x", "5-3", "5-11"}, []bool{true, true, false, true}, "5-11"},
		{"no id passes, stays", "5-10", []string{""}, []bool{true}, "5-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCursor(tt.start)
			for i, id := range tt.ids {
				assert.Equal(t, "accept "+id, c.Accept(id), tt.accept[i])
			}
			assert.Equal(t, "last", c.Last(), tt.last)
		})
	}
	c := NewCursor("9-9")
	c.Jump("3-1")
	assert.True(t, "after jump", c.Accept("3-2") && !c.Accept("3-1"))
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		base    string
		ws, sse string
		err     bool
	}{
		{"http://h:8080", "ws://h:8080/rt/ws", "http://h:8080/rt/sse", false},
		{"https://h/app/", "wss://h/app/rt/ws", "https://h/app/rt/sse", false},
		{"HTTPS://h/?x=1#f", "wss://h/rt/ws", "https://h/rt/sse", false},
		{"ftp://h", "", "", true},
		{"/relative", "", "", true},
		{"http://", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			ep, err := NewEndpoints(tt.base)
			if tt.err {
				assert.True(t, "error", err != nil)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, "ws", ep.WS, tt.ws)
			assert.Equal(t, "sse", ep.SSE, tt.sse)
		})
	}
}

func TestCodeOfHTTP(t *testing.T) {
	tests := []struct {
		status int
		body   string
		code   shared.Code
		action shared.Action
	}{
		{400, `{"code":4422,"message":"bad"}`, shared.CodeBadChannel, shared.ActionStop},
		{503, ` {"code":4002,"message":"bye"}` + "\n", shared.CodeShutdown, shared.ActionReconnect},
		{401, ``, shared.CodeUnauthorized, shared.ActionRefresh},
		{403, `<html>`, shared.CodeForbidden, shared.ActionStop},
		{404, `{}`, shared.CodeBadRequest, shared.ActionStop},
		{429, ``, shared.CodeRateLimited, shared.ActionReconnect},
		{502, `bad gateway`, shared.CodeInternalError, shared.ActionReconnect},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			e := CodeOfHTTP(tt.status, []byte(tt.body))
			assert.Equal(t, "code", e.Code, tt.code)
			assert.Equal(t, "action", e.Code.Action(), tt.action)
		})
	}
}
