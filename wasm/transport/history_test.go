package transport

import (
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

func TestConnHistory(t *testing.T) {
	h := newHarness(t, Options{Mode: ModeSSE, Channels: []string{"a"}})
	var page *HistoryPage
	var perr error
	calls := 0
	done := func(p *HistoryPage, err error) { calls++; page, perr = p, err }

	h.c.History("chat:x=y", HistoryQuery{Since: "5-9", Limit: 2, Reverse: true}, done)
	get := h.d.lastGet()
	assert.Equal(t, "url", get.url, "http://example.test/rt/history?channel=chat%3Ax%3Dy&since=5-9&limit=2&reverse=1")
	get.done(200, []byte(`{"channel":"chat:x=y","messages":[{"id":"5-7","channel":"chat:x=y","event":"message","data":{"n":1},"ts":1}],"complete":false,"next":"5-7"}`), nil)
	assert.NoError(t, perr)
	assert.Equal(t, "page", []any{page.Channel, len(page.Messages), string(page.Messages[0].Data), page.Complete, page.Next}, []any{"chat:x=y", 1, `{"n":1}`, false, "5-7"})

	// The newest page: no query but the channel. A 4401 refreshes the
	// credentials and asks once more.
	h.c.History("a", HistoryQuery{}, done)
	first := h.d.lastGet()
	assert.Equal(t, "url", first.url, "http://example.test/rt/history?channel=a")
	first.done(401, []byte(`{"code":4401,"message":"expired"}`), nil)
	assert.Equal(t, "refreshed", h.d.refreshes, 1)
	again := h.d.lastGet()
	assert.True(t, "asked again", again != first)
	again.done(403, []byte(`{"code":4403,"message":"not yours"}`), nil)
	errCode(t, perr, shared.CodeForbidden)

	h.c.History("bad name", HistoryQuery{}, done)
	errCode(t, perr, shared.CodeBadChannel)
	h.c.History("a", HistoryQuery{}, done)
	h.d.lastGet().done(200, []byte(`{"code":1}`), nil)
	errCode(t, perr, shared.CodeBadRequest)
	assert.Equal(t, "done once per call", calls, 4)
}
