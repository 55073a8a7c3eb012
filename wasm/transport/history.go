package transport

import (
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// History for clients (PROTOCOL.md §3.7): a page of a channel's history,
// read with GET /rt/history whichever wire is up (none is needed), with the
// credentials of the connection's requests.

// HistoryQuery selects a page: the newest Limit messages without Since,
// else the Limit after Since (before it with Reverse). Limit 0 is the
// server's default (50).
type HistoryQuery struct {
	Since   string
	Limit   int
	Reverse bool
}

// HistoryPage is a page of history: Messages in id order; Complete false
// when messages of the page's range may be gone; Next, when not empty, the
// Since of the next page in the same direction (backward when the query
// had no Since).
type HistoryPage struct {
	Channel  string
	Messages []shared.Envelope
	Complete bool
	Next     string
}

var errBadHistoryBody = shared.NewError(shared.CodeBadRequest, "duet/transport: the history response is not a page of history")

// History reads a page of channel's history and calls done once, with the
// page or an error (a *shared.Error with the server's code; a 4401 is
// answered by refreshing the credentials and asking once more). It does not
// subscribe, and its messages do not move the resume position.
func (s *session) History(channel string, q HistoryQuery, done func(*HistoryPage, error)) {
	s.lock()
	defer s.unlock()
	if err := shared.ValidateChannel(channel); err != nil {
		s.later(func() { done(nil, err) })
		return
	}
	if q.Limit < 0 {
		err := shared.NewError(shared.CodeBadRequest, "duet/transport: history limit must not be negative")
		s.later(func() { done(nil, err) })
		return
	}
	url := s.ep.HistoryURL(channel, q)
	s.getHistory(url, false, done)
}

// getHistory sends the request; refreshed says credentials were refreshed
// for it already.
func (s *session) getHistory(url string, refreshed bool, done func(*HistoryPage, error)) {
	d := s.d
	s.later(func() {
		d.Get(url, func(status int, body []byte, err error) {
			switch {
			case err != nil:
				done(nil, shared.NewError(shared.CodeAbnormal, "duet/transport: history request failed: "+err.Error()))
			case status == 200:
				f, err := shared.DecodeHistoryPage(body)
				if err != nil {
					done(nil, errBadHistoryBody)
					return
				}
				done(&HistoryPage{Channel: f.Channel, Messages: f.Messages, Complete: f.Complete, Next: f.Next}, nil)
			default:
				e := CodeOfHTTP(status, body)
				if e.Code.Action() == shared.ActionRefresh && !refreshed {
					d.Refresh(func(error) {
						s.lock()
						defer s.unlock()
						s.getHistory(url, true, done)
					})
					return
				}
				done(nil, e)
			}
		})
	})
}

// HistoryURL returns the URL of GET /rt/history for channel and q.
func (e *Endpoints) HistoryURL(channel string, q HistoryQuery) string {
	b := make([]byte, 0, len(e.History)+len(channel)+64)
	b = append(b, e.History...)
	b = append(b, "?channel="...)
	b = appendQueryEscape(b, channel)
	if q.Since != "" {
		b = append(b, "&since="...)
		b = appendQueryEscape(b, q.Since)
	}
	if q.Limit > 0 {
		b = append(b, "&limit="...)
		b = strconv.AppendInt(b, int64(q.Limit), 10)
	}
	if q.Reverse {
		b = append(b, "&reverse=1"...)
	}
	return string(b)
}
