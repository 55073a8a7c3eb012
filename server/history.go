package server

import (
	"context"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// History for clients: a page of a channel's retained messages, asked for
// by GET /rt/history, a WebSocket history frame or Hub.History, and read
// from the broker (a HistoryBroker).

// Defaults of history pages.
const (
	defaultHistoryLimit    = 50
	defaultMaxHistoryLimit = 1000
)

// HistoryQuery selects a page of a channel's retained messages.
type HistoryQuery struct {
	// Since is where the page starts, exclusive. Zero: the page is the
	// newest messages, and the walk goes backward whatever Reverse says.
	Since shared.ID
	// Limit is the most messages in the page. Hub.History defaults it to 50
	// and refuses more than Config.MaxHistoryLimit; a broker given zero or
	// less returns every retained message of the range.
	Limit int
	// Reverse walks backward: the page is the Limit messages just before
	// Since (still in id order). Otherwise it is the Limit messages just
	// after Since.
	Reverse bool
}

// HistoryPage is one page of a channel's history.
type HistoryPage struct {
	// Messages are in id order, oldest first, whichever the direction.
	Messages []*Message
	// Complete is false when messages of the page's range may be gone:
	// Since is older than what is kept (or of another epoch), or a walk
	// backward reached the oldest message kept and older ones were
	// dropped. Never silently as if nothing was lost. The NATS broker may
	// say false when nothing was lost (see its gap detection); never true
	// when something was.
	Complete bool
	// Next continues the walk: the Since of the next page in the same
	// direction (backward when the query had no Since). Zero when the
	// page reached the end of what is kept.
	Next shared.ID
}

// A HistoryBroker is a Broker that serves pages of history. MemoryBroker
// and natsbroker.Broker are HistoryBrokers; the hub refuses history
// requests over a broker that is not (4400).
type HistoryBroker interface {
	Broker
	// History returns a page of channel's retained messages. An id of the
	// current epoch that was never issued fails with ErrFutureID.
	History(ctx context.Context, channel string, q HistoryQuery) (HistoryPage, error)
}

// History returns a page of channel's retained messages: the newest Limit
// (50 by default) without q.Since, else the Limit after q.Since (before it
// with q.Reverse). It checks the channel name and the limit, not
// permissions: GET /rt/history and the history frame require the
// subscribe permission.
func (h *Hub) History(ctx context.Context, channel string, q HistoryQuery) (HistoryPage, error) {
	if err := shared.ValidateChannel(channel); err != nil {
		return HistoryPage{}, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = defaultHistoryLimit
	case q.Limit < 0 || q.Limit > h.cfg.MaxHistoryLimit:
		return HistoryPage{}, shared.NewError(shared.CodeBadRequest, "history limit must be between 1 and "+strconv.Itoa(h.cfg.MaxHistoryLimit))
	}
	hb, ok := h.broker.(HistoryBroker)
	if !ok {
		return HistoryPage{}, shared.NewError(shared.CodeBadRequest, "this server's broker does not serve history")
	}
	return hb.History(ctx, channel, q)
}
