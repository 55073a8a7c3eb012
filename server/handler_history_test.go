package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// historyBody is GET /rt/history's answer.
type historyBody struct {
	Channel  string
	Messages []struct{ ID, Channel string }
	Complete *bool
	Next     string
}

func (b historyBody) ids() []string {
	out := []string{}
	for _, m := range b.Messages {
		out = append(out, m.ID)
	}
	return out
}

// TestHistoryHTTP: GET /rt/history pages as PROTOCOL.md §3.7 says, and
// refuses what it must.
func TestHistoryHTTP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHistoryLimit = 10
	cfg.Authorize = func(id Identity, perm Permission, channel string) error {
		if channel == "secret" {
			return shared.NewError(shared.CodeForbidden, "not yours")
		}
		return nil
	}
	ts := newTestServer(t, cfg, MemoryConfig{})
	for i := range 6 {
		ts.publish(t, "chat", "", strconv.Itoa(i)) // ids 1…6
	}
	get := func(query string) (int, historyBody, []byte) {
		t.Helper()
		resp, body := ts.do(t, http.MethodGet, "/rt/history?"+query, nil, "")
		var hb historyBody
		if resp.StatusCode == http.StatusOK {
			assert.NoError(t, json.Unmarshal(body, &hb))
			assert.True(t, "complete is always present: "+string(body), hb.Complete != nil)
		}
		return resp.StatusCode, hb, body
	}

	st, hb, _ := get("channel=chat&limit=4")
	assert.Equal(t, "status", st, http.StatusOK)
	assert.Equal(t, "newest 4", []any{hb.Channel, hb.ids(), *hb.Complete, hb.Next}, []any{"chat", []string{idOf(3), idOf(4), idOf(5), idOf(6)}, true, idOf(3)})
	_, hb, _ = get("channel=chat&limit=4&reverse=1&since=" + hb.Next)
	assert.Equal(t, "the rest, backward", []any{hb.ids(), *hb.Complete, hb.Next}, []any{[]string{idOf(1), idOf(2)}, true, ""})
	_, hb, _ = get("channel=chat&since=" + idOf(2) + "&limit=3")
	assert.Equal(t, "forward", []any{hb.ids(), hb.Next}, []any{[]string{idOf(3), idOf(4), idOf(5)}, idOf(5)})
	_, hb, body := get("channel=empty")
	assert.Equal(t, "an empty channel", string(body), `{"channel":"empty","messages":[],"complete":true}`+"\n")

	for _, tt := range []struct {
		query  string
		status int
		code   shared.Code
	}{
		{"channel=chat&limit=11", 400, shared.CodeBadRequest},
		{"channel=chat&limit=0", 400, shared.CodeBadRequest},
		{"channel=chat&limit=x", 400, shared.CodeBadRequest},
		{"channel=chat&reverse=yes", 400, shared.CodeBadRequest},
		{"channel=chat&since=nope", 400, shared.CodeBadID},
		{"channel=chat&since=" + idOf(99), 400, shared.CodeBadID},
		{"channel=bad%20name", 400, shared.CodeBadChannel},
		{"", 400, shared.CodeBadChannel},
		{"channel=secret", 403, shared.CodeForbidden},
	} {
		st, _, body := get(tt.query)
		assert.Equal(t, tt.query+" status", st, tt.status)
		assert.Equal(t, tt.query+" code", errorBody(t, body), tt.code)
	}
	resp, _ := ts.do(t, http.MethodPost, "/rt/history?channel=chat", nil, "")
	assert.Equal(t, "POST", resp.StatusCode, http.StatusMethodNotAllowed)
}

// TestHistoryWS: the history frame answers with a history frame of the same
// ref, or an error frame.
func TestHistoryWS(t *testing.T) {
	cfg := testConfig()
	cfg.Authorize = func(id Identity, perm Permission, channel string) error {
		if channel == "secret" {
			return shared.NewError(shared.CodeForbidden, "not yours")
		}
		return nil
	}
	ts := newTestServer(t, cfg, MemoryConfig{})
	for i := range 5 {
		ts.publish(t, "chat", "", strconv.Itoa(i))
	}
	c := ts.openWS(t)
	defer c.close()
	c.send(`{"type":"history","ref":"h1","channel":"chat","limit":2}`)
	f := c.expect(shared.TypeHistory)
	assert.Equal(t, "page", []any{f.Ref, f.Channel, len(f.Messages), f.Messages[0].ID, f.Complete, f.Next}, []any{"h1", "chat", 2, idOf(4), true, idOf(4)})
	c.send(`{"type":"history","ref":"h2","channel":"chat","since":"` + f.Next + `","reverse":true}`)
	f = c.expect(shared.TypeHistory)
	assert.Equal(t, "backward, default limit", []any{f.Ref, len(f.Messages), f.Next}, []any{"h2", 3, ""})
	c.send(`{"type":"history","ref":"h3","channel":"secret"}`)
	c.expectError("h3", shared.CodeForbidden)
	c.send(`{"type":"history","ref":"h4","channel":"chat","limit":1001}`)
	c.expectError("h4", shared.CodeBadRequest)
	c.send(`{"type":"history","ref":"h5","channel":"chat","since":"` + idOf(50) + `"}`)
	c.expectError("h5", shared.CodeBadID)
}
