package transport

import (
	"bytes"
	"slices"
	"testing"

	"github.com/duet-rt/duet/shared"
)

// wsSep separates WebSocket messages in a FuzzConnReceive input: a
// protocol frame never fits in a fixed small piece, so the input says
// where each message ends. Within a message, lines are a batch of frames,
// as the server sends them.
const wsSep = "\x1e"

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
		wsRepeats, sseRepeats,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, sse bool) {
		connReceive(t, p, sse)
	})
}

// Inputs that repeat an id and go back, on each wire: only 7-3 and 7-4
// may be delivered, once each.
var (
	wsRepeats  = wsMsg("7-3") + wsSep + wsMsg("7-3") + "\n" + wsMsg("7-2") + wsSep + wsMsg("7-4") + wsSep + wsMsg("7-3")
	sseRepeats = sseMsg("7-3") + sseMsg("7-3") + sseMsg("7-2") + sseMsg("7-4") + sseMsg("7-3")
)

func wsMsg(id string) string {
	return `{"type":"message","id":"` + id + `","channel":"a","event":"message","data":1,"ts":1}`
}

func sseMsg(id string) string {
	return "id: " + id + "\nevent: message\ndata: " + wsMsg(id) + "\n\n"
}

// TestConnReceiveDelivers holds FuzzConnReceive to its purpose: on both
// wires its inputs reach the Conn as whole frames, so messages are
// delivered and the duplicate and order checks run.
func TestConnReceiveDelivers(t *testing.T) {
	for _, tt := range []struct {
		in  string
		sse bool
	}{{wsRepeats, false}, {sseRepeats, true}} {
		if got, want := connReceive(t, []byte(tt.in), tt.sse), []string{"7-3", "7-4"}; !slices.Equal(got, want) {
			t.Errorf("sse=%v: delivered %q, want %q", tt.sse, got, want)
		}
	}
}

// connReceive starts a Conn on one wire, feeds it p as the server's
// output after hello (on SSE in chunks of 1–16 bytes, the first byte of
// each choosing its length; on WebSocket one message per wsSep-separated
// piece), and returns the ids delivered, failing t on a duplicate or an
// id that goes back (messages without a parsable id are delivered
// unchecked).
func connReceive(t *testing.T, p []byte, sse bool) []string {
	mode, kind := ModeWebSocket, KindWebSocket
	if sse {
		mode, kind = ModeSSE, KindSSE
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
	w := d.last(kind)
	w.hello(1000)
	if sse {
		for len(p) > 0 {
			n := min(int(p[0])%16+1, len(p))
			w.recv(string(p[:n]))
			p = p[n:]
		}
	} else {
		for m := range bytes.SplitSeq(p, []byte(wsSep)) {
			w.recv(string(m))
		}
	}
	c.Close()
	seen := map[string]bool{}
	cur := NewCursor("")
	for _, id := range ids {
		if _, err := shared.ParseID(id); err != nil {
			// A message without an id, or with one that does not parse,
			// cannot be checked and is delivered (Cursor.Accept): nothing
			// to compare.
			continue
		}
		if seen[id] {
			t.Fatalf("id %q delivered twice", id)
		}
		seen[id] = true
		if !cur.Accept(id) {
			t.Fatalf("id %q goes back", id)
		}
	}
	return ids
}
