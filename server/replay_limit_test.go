package server

import (
	"net/http"
	"testing"

	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestReplayLimit: a resume that asks for more than the server replays at
// once (the broker's MaxReplay, or what fits in the connection's
// QueueBytes) gets the oldest messages, then the end of the connection
// with 4005 saying where to resume; resuming from there, again and again,
// yields every message once, in order, on both wires.
func TestReplayLimit(t *testing.T) {
	t.Parallel()
	const published = 12
	tests := []struct {
		name string
		cfg  func(*Config, *MemoryConfig)
		per  int // messages per connection
	}{
		{"broker limit", func(_ *Config, m *MemoryConfig) { m.MaxReplay = 5 }, 5},
		{"queue bytes", func(c *Config, _ *MemoryConfig) { c.QueueBytes = 4 * 700 }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, mcfg := testConfig(), MemoryConfig{}
			tt.cfg(&cfg, &mcfg)
			ts := newTestServer(t, cfg, mcfg)
			for i := range published {
				ts.publish(t, "a", "", `{"n":`+string(rune('0'+i%10))+`}`)
			}

			t.Run("sse", func(t *testing.T) {
				last, got, rounds := idOf(1), []string{}, 0
				for len(got) < published-1 {
					rounds++
					assert.True(t, "progress", rounds <= published)
					c := ts.openSSE(t, "channel=a", http.Header{"Last-Event-ID": {last}})
					var n int
					for {
						ev := c.next()
						if ev.Type == sseCloseEvent {
							f, err := shared.DecodeFrame([]byte(ev.Data))
							assert.NoError(t, err)
							assert.Equal(t, "close code", f.Code, shared.CodeReplayLimit)
							assert.Equal(t, "the close event's id is the last replayed", ev.LastEventID, last)
							assert.Equal(t, "the frame's id too", f.ID, last)
							assert.Equal(t, "the stream ends", len(c.end(waitTimeout)), 0)
							break
						}
						got = append(got, ev.LastEventID)
						last = ev.LastEventID
						if n++; len(got) == published-1 {
							break // all caught up: live from here
						}
					}
					c.close()
					if tt.per > 0 && len(got) < published-1 {
						assert.Equal(t, "messages per connection", n, tt.per)
					}
				}
				assert.True(t, "cut at least once", rounds > 1)
				for i, id := range got {
					assert.Equal(t, "id", id, idOf(uint64(i+2)))
				}
			})
			t.Run("ws", func(t *testing.T) {
				last, got, rounds := idOf(1), []string{}, 0
				for len(got) < published-1 {
					rounds++
					assert.True(t, "progress", rounds <= published)
					c := ts.openWS(t)
					c.subscribe("s", last, "a")
					for len(got) < published-1 {
						f, ok := c.nextWithin(waitTimeout)
						if !ok {
							code, _ := c.closeStatus(waitTimeout)
							assert.Equal(t, "close code", int(code), int(shared.CodeReplayLimit))
							break
						}
						assert.Equal(t, "frame", f.Type, shared.TypeMessage)
						got = append(got, f.ID)
						last = f.ID
					}
					c.close()
				}
				assert.True(t, "cut at least once", rounds > 1)
				for i, id := range got {
					assert.Equal(t, "id", id, idOf(uint64(i+2)))
				}
			})
		})
	}
}

// TestSubscribeRateLimit: subscribe frames past a connection's rate are
// refused with 4429 and the connection stays; SSE requests past an
// identity's rate get a 200 stream that says to retry later, which a
// native EventSource follows (a 429 would stop it for good).
func TestSubscribeRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SubscribeRate, cfg.SubscribeBurst = 0.001, 2
	cfg.IdentitySubscribeRate, cfg.IdentitySubscribeBurst = 0.001, 4
	ts := newTestServer(t, cfg, MemoryConfig{})

	ws := ts.openWS(t)
	ws.subscribe("1", "", "a")
	ws.subscribe("2", "", "b")
	ws.sendFrame(shared.Frame{Type: shared.TypeSubscribe, Ref: "3", Channels: []string{"c"}})
	ws.expectError("3", shared.CodeRateLimited)
	ws.sendFrame(shared.Frame{Type: shared.TypePing, Ref: "alive"})
	assert.Equal(t, "the connection stays", ws.expect(shared.TypePong).Ref, "alive")

	ts.openSSE(t, "channel=a", nil)
	ts.openSSE(t, "channel=a", nil) // the identity's burst of 4 is spent
	resp, body := ts.do(t, http.MethodGet, "/rt/sse?channel=a", nil, "")
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
	assert.Equal(t, "content type", resp.Header.Get("Content-Type"), "text/event-stream")
	assert.True(t, "Retry-After", resp.Header.Get("Retry-After") != "")
	assertRetryLater(t, string(body), shared.CodeRateLimited)
}

// assertRetryLater checks an SSE body that only says to retry: a retry
// field and a duet.close event with code.
func assertRetryLater(t *testing.T, body string, code shared.Code) {
	t.Helper()
	var events []shared.SSEEvent
	var retry int64
	p := shared.SSEParser{OnEvent: func(ev shared.SSEEvent) { events = append(events, ev) }, OnRetry: func(ms int64) { retry = ms }}
	assert.NoError(t, p.Feed([]byte(body)))
	assert.Equal(t, "events", len(events), 1)
	assert.Equal(t, "event", events[0].Type, sseCloseEvent)
	f, err := shared.DecodeFrame([]byte(events[0].Data))
	assert.NoError(t, err)
	assert.Equal(t, "code", f.Code, code)
	assert.True(t, "a retry field: "+body, retry > 0)
}
