package transport

import (
	"testing"

	"github.com/duet-rt/duet/shared"
)

// FuzzConnReceive feeds what a hostile or broken server might send, on both
// wires: the Conn must not panic, and must never deliver the same id twice
// or an id that goes back within an epoch.
func FuzzConnReceive(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","heartbeatMs":1000,"maxFrameBytes":10}`,
		`{"type":"message","id":"7-3","channel":"a","event":"message","data":{"x":[1]},"ts":1}` + "\n" + `{"type":"ping"}`,
		`{"type":"gap","channels":["a"],"lastEventId":"7-3","id":"9-0","reason":"restarted"}`,
		`{"type":"error","ref":"p1","code":4413,"message":"too large"}`,
		`{"type":"ack","ref":"p1","id":"1-1"}`,
		"retry: 10\nevent: duet.hello\ndata: {\"type\":\"hello\"}\n\n",
		"id: 7-4\nevent: message\ndata: {\"id\":\"7-4\",\"channel\":\"a\",\"data\":1}\n\n:ping\n\n",
		"event: duet.close\ndata: {\"type\":\"error\",\"code\":4002}\n\n",
		"id: 9-0\nevent: duet.gap\ndata: {\"type\":\"gap\",\"id\":\"9-0\"}\n\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, sse bool) {
		mode := ModeWebSocket
		if sse {
			mode = ModeSSE
		}
		clk, d := newFakeClock(), &fakeDialer{t: t}
		var ids []string
		obs := &recorder{onMessage: func(e *shared.Envelope) { ids = append(ids, e.ID) }}
		c, err := NewConn(base, &Options{Mode: mode, Channels: []string{"a"}}, Env{Dialer: d, Clock: clk, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		var p1 published
		c.Publish("a", "", nil, p1.cb)
		kind := KindWebSocket
		if sse {
			kind = KindSSE
		}
		w := d.last(kind)
		w.hello(1000)
		// Split anywhere: chunks, or several WebSocket messages.
		for len(p) > 0 {
			n := int(p[0])%16 + 1
			if n > len(p) {
				n = len(p)
			}
			w.recv(string(p[:n]))
			p = p[n:]
		}
		c.Close()
		seen := map[string]bool{}
		cur := NewCursor("")
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %q delivered twice", id)
			}
			seen[id] = true
			if !cur.Accept(id) {
				t.Fatalf("id %q goes back", id)
			}
		}
	})
}
