package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/shared"
	"github.com/duet-rt/duet/shared/assert"
)

// TestBadInput: every kind of bad input, one case each, gets its documented
// answer, and a client connected throughout on each wire keeps streaming.
func TestBadInput(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxChannels = 4
	cfg.MaxFrameBytes = 4 << 10
	cfg.MaxPublishBytes = 8 << 10
	ts := newTestServer(t, cfg, MemoryConfig{})

	// Witnesses, one per wire, connected for the whole table.
	sseWitness := ts.openSSE(t, "channel=w", nil)
	wsWitness := ts.openWS(t)
	wsWitness.subscribe("w", "", "w")

	// refused checks an HTTP refusal: status, JSON body, code.
	refused := func(t *testing.T, resp *http.Response, body []byte, status int, code shared.Code) {
		t.Helper()
		assert.Equal(t, "status ("+string(body)+")", resp.StatusCode, status)
		assert.Equal(t, "Content-Type", resp.Header.Get("Content-Type"), "application/json")
		assert.Equal(t, "code", errorBody(t, body), code)
	}
	publish := func(t *testing.T, header http.Header, body string) (*http.Response, []byte) {
		t.Helper()
		return ts.do(t, http.MethodPost, "/rt/publish", header, body)
	}
	sseGet := func(t *testing.T, query string) (*http.Response, []byte) {
		t.Helper()
		return ts.do(t, http.MethodGet, "/rt/sse?"+query, nil, "")
	}
	// stillUsable checks a WebSocket answers a ping after an error frame.
	stillUsable := func(c *wsClient) {
		c.t.Helper()
		c.send(`{"type":"ping","ref":"alive"}`)
		assert.Equal(c.t, "pong after the error", c.expect("pong").Ref, "alive")
	}
	long := strings.Repeat("c", shared.MaxChannelLength+1)

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		// WebSocket frames.
		{"ws malformed JSON", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"subscribe","channels":["a"`)
			c.expectError("", shared.CodeBadRequest)
			stillUsable(c)
		}},
		{"ws frame without a type", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"ref":"x","channels":["a"]}`)
			c.expectError("", shared.CodeBadRequest)
			stillUsable(c)
		}},
		{"ws bad line among good ones", func(t *testing.T) {
			c := ts.openWS(t)
			c.send("{\"type\":\"ping\",\"ref\":\"1\"}\n{oops}\n{\"type\":\"ping\",\"ref\":\"2\"}")
			assert.Equal(t, "first pong", c.expect("pong").Ref, "1")
			c.expectError("", shared.CodeBadRequest)
			assert.Equal(t, "second pong", c.expect("pong").Ref, "2")
		}},
		{"ws oversized frame", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"publish","channel":"a","data":` + fill(int(cfg.MaxFrameBytes)) + `}`)
			code, rest := c.closeStatus(waitTimeout)
			assert.Equal(t, "close code", code, websocket.StatusMessageTooBig)
			assert.Equal(t, "frames after it", len(rest), 0)
		}},
		{"ws unknown frame type", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"teleport","ref":"u"}`)
			c.expectError("u", shared.CodeUnknownType)
			stillUsable(c)
		}},
		{"ws binary frame of unknown kind", func(t *testing.T) {
			c := ts.openWS(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			assert.NoError(t, c.conn.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping"}`)))
			c.expectError("", shared.CodeBadRequest)
			stillUsable(c)
		}},
		{"ws bad channel name", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"subscribe","ref":"s","channels":["ok","bad name"]}`)
			c.expectError("s", shared.CodeBadChannel)
			c.subscribe("s2", "", "ok") // the refused subscribe added nothing
		}},
		{"ws channel name too long", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"subscribe","ref":"s","channels":["` + long + `"]}`)
			c.expectError("s", shared.CodeBadChannel)
			stillUsable(c)
		}},
		{"ws empty channel list", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"subscribe","ref":"s","channels":[]}`)
			c.expectError("s", shared.CodeBadChannel)
			stillUsable(c)
		}},
		{"ws too many channels", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"subscribe","ref":"s","channels":["a","b","c","d","e"]}`)
			c.expectError("s", shared.CodeTooManyChannels)
			stillUsable(c)
		}},
		{"ws too many channels over two subscribes", func(t *testing.T) {
			c := ts.openWS(t)
			c.subscribe("s1", "", "a", "b", "c")
			c.send(`{"type":"subscribe","ref":"s2","channels":["d","e"]}`)
			c.expectError("s2", shared.CodeTooManyChannels)
			c.subscribe("s3", "", "d") // the fourth fits
		}},
		{"ws publish with a reserved event name", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"publish","ref":"p","channel":"a","event":"duet.x","data":1}`)
			c.expectError("p", shared.CodeBadRequest)
			stillUsable(c)
		}},
		{"ws publish without data", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"publish","ref":"p","channel":"a"}`)
			c.expectError("p", shared.CodeBadRequest)
			stillUsable(c)
		}},
		{"ws publish to a bad channel", func(t *testing.T) {
			c := ts.openWS(t)
			c.send(`{"type":"publish","ref":"p","channel":"a b","data":1}`)
			c.expectError("p", shared.CodeBadChannel)
			stillUsable(c)
		}},
		{"ws without the subprotocol", func(t *testing.T) {
			conn, _, err := ts.dialWS(t, &websocket.DialOptions{})
			assert.NoError(t, err)
			c := newWSClient(t, conn)
			code, _ := c.closeStatus(waitTimeout)
			assert.Equal(t, "close code", code, websocket.StatusCode(shared.CodeBadRequest))
		}},
		{"ws from another origin", func(t *testing.T) {
			conn, resp, err := ts.dialWS(t, &websocket.DialOptions{
				Subprotocols: []string{shared.Protocol},
				HTTPHeader:   http.Header{"Origin": {"https://evil.example"}},
			})
			if err == nil {
				conn.CloseNow()
				t.Fatal("cross-origin upgrade accepted")
			}
			assert.Equal(t, "status", resp.StatusCode, http.StatusForbidden)
		}},
		{"ws plain GET without upgrade", func(t *testing.T) {
			resp, _ := ts.do(t, http.MethodGet, "/rt/ws", nil, "")
			assert.Equal(t, "status", resp.StatusCode, http.StatusUpgradeRequired)
		}},

		// SSE requests.
		{"sse bad channel name", func(t *testing.T) {
			resp, body := sseGet(t, "channel=ok&channel=bad%20name")
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
		{"sse channel name too long", func(t *testing.T) {
			resp, body := sseGet(t, "channel="+long)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
		{"sse no channel", func(t *testing.T) {
			resp, body := sseGet(t, "")
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
		{"sse empty channel name", func(t *testing.T) {
			resp, body := sseGet(t, "channel=")
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
		{"sse too many channels", func(t *testing.T) {
			resp, body := sseGet(t, "channel=a&channel=b&channel=c&channel=d&channel=e")
			refused(t, resp, body, http.StatusBadRequest, shared.CodeTooManyChannels)
		}},

		// POST /rt/publish.
		{"publish non-JSON body", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `channel=a&data=1`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish JSON that is not an object", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `["a",1]`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish wrong Content-Type", func(t *testing.T) {
			resp, body := publish(t, http.Header{"Content-Type": {"text/plain"}}, `{"channel":"a","data":1}`)
			refused(t, resp, body, http.StatusUnsupportedMediaType, shared.CodeBadRequest)
		}},
		{"publish without Content-Type", func(t *testing.T) {
			resp, body := publish(t, nil, `{"channel":"a","data":1}`)
			refused(t, resp, body, http.StatusUnsupportedMediaType, shared.CodeBadRequest)
		}},
		{"publish oversized body", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","data":`+fill(int(cfg.MaxPublishBytes)+2048)+`}`)
			refused(t, resp, body, http.StatusRequestEntityTooLarge, shared.CodeTooLarge)
		}},
		{"publish oversized data", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","data":`+fill(int(cfg.MaxPublishBytes)+1)+`}`)
			refused(t, resp, body, http.StatusRequestEntityTooLarge, shared.CodeTooLarge)
		}},
		{"publish reserved event name", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","event":"duet.x","data":1}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish bad event name", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","event":"new message","data":1}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish data missing", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","event":"e"}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish data not JSON", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","data":hello}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish data nested too deep", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a","data":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadRequest)
		}},
		{"publish bad channel", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"channel":"a/b c","data":1}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
		{"publish without channel", func(t *testing.T) {
			resp, body := publish(t, jsonHeader, `{"data":1}`)
			refused(t, resp, body, http.StatusBadRequest, shared.CodeBadChannel)
		}},
	}

	// Wrong methods, on every endpoint.
	for _, m := range []struct{ method, path, allow string }{
		{http.MethodPost, "/rt/sse?channel=a", "GET"},
		{http.MethodDelete, "/rt/sse?channel=a", "GET"},
		{http.MethodGet, "/rt/publish", "POST"},
		{http.MethodPut, "/rt/publish", "POST"},
		{http.MethodPost, "/rt/ws", "GET"},
		{http.MethodPost, "/rt/healthz", "GET, HEAD"},
		{http.MethodPost, "/metrics", "GET, HEAD"},
	} {
		tests = append(tests, struct {
			name string
			run  func(t *testing.T)
		}{m.method + " " + m.path, func(t *testing.T) {
			resp, body := ts.do(t, m.method, m.path, jsonHeader, `{}`)
			refused(t, resp, body, http.StatusMethodNotAllowed, shared.CodeBadRequest)
			assert.Equal(t, "Allow", resp.Header.Get("Allow"), m.allow)
		}})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t)
			// Whatever happened, the witnesses still stream.
			id := ts.publish(t, "w", "", `"after `+tt.name+`"`)
			sseWitness.expectIDs(id)
			wsWitness.expectIDs(id)
		})
	}
}
