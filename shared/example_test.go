package shared_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/duet-rt/duet/shared"
)

func ExampleParseID() {
	id, err := shared.ParseID("1764100000000-42")
	fmt.Println(id.Epoch, id.Seq, err)

	next := shared.ID{Epoch: id.Epoch, Seq: id.Seq + 1}
	fmt.Println(next, id.Before(next))

	// Every id has exactly one text form.
	_, err = shared.ParseID("1764100000000-042")
	fmt.Println(err, errors.Is(err, shared.ErrBadID))
	// Output:
	// 1764100000000 42 <nil>
	// 1764100000000-43 true
	// duet/shared: malformed event id "1764100000000-042" true
}

func ExampleAppendFrame() {
	sub := shared.Frame{Type: shared.TypeSubscribe, Ref: "1", Channels: []string{"chat"}, LastEventID: "1764100000000-42"}
	fmt.Println(string(shared.AppendFrame(nil, &sub)))

	// Data is raw JSON, compacted on the way out so a frame stays on one line.
	msg := shared.MessageFrame(&shared.Envelope{
		ID: "1764100000000-43", Channel: "chat", Event: "say",
		Data: []byte("{\n  \"text\": \"hi\"\n}"), TS: 1764100000123,
	})
	fmt.Println(string(shared.AppendFrame(nil, &msg)))
	// Output:
	// {"type":"subscribe","ref":"1","channels":["chat"],"lastEventId":"1764100000000-42"}
	// {"type":"message","id":"1764100000000-43","channel":"chat","event":"say","data":{"text":"hi"},"ts":1764100000123}
}

func ExampleDecodeFrame() {
	in := []byte(`{"type":"message","id":"1764100000000-43","channel":"chat","event":"say","data":{"text":"hi"},"ts":1764100000123,"future":[1]}`)
	f, err := shared.DecodeFrame(in)
	fmt.Println(f.Type, f.ID, f.Channel, f.Event, string(f.Data), f.TS, err)

	_, err = shared.DecodeFrame([]byte(`{"type":"message","ts":1.5}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, shared.ErrBadJSON))
	// Output:
	// message 1764100000000-43 chat say {"text":"hi"} 1764100000123 <nil>
	// duet/shared: malformed JSON: expected an integer at offset 23
	// true
}

func ExampleCode_Action() {
	for _, c := range []shared.Code{
		shared.CodeGoingAway, shared.CodeSlowConsumer, shared.CodeUnauthorized,
		shared.CodeBadChannel, shared.CodeRateLimited,
		4499, 4599, // unknown: the hundreds decide
	} {
		fmt.Printf("%d %-17s %s\n", c, c, c.Action())
	}
	// Output:
	// 1001 going away        reconnect
	// 4000 slow consumer     reconnect
	// 4401 unauthorized      refresh
	// 4422 bad channel       stop
	// 4429 rate limited      reconnect
	// 4499 code 4499         stop
	// 4599 code 4599         reconnect
}

func ExampleBackoff() {
	b := shared.Backoff{
		Initial: 500 * time.Millisecond,
		Max:     5 * time.Second,
		Rand:    func() float64 { return 0.5 }, // deterministic for the example
	}
	for n := range 6 {
		fmt.Printf("attempt %d: wait %v (up to %v)\n", n, b.Delay(n), b.Ceiling(n))
	}
	// Output:
	// attempt 0: wait 250ms (up to 500ms)
	// attempt 1: wait 500ms (up to 1s)
	// attempt 2: wait 1s (up to 2s)
	// attempt 3: wait 2s (up to 4s)
	// attempt 4: wait 2.5s (up to 5s)
	// attempt 5: wait 2.5s (up to 5s)
}

func ExampleRetrier() {
	r := shared.Retrier{Policy: shared.Backoff{Rand: func() float64 { return 0.5 }}}
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

	fmt.Println(r.Next(now)) // the first attempt failed
	fmt.Println(r.Next(now)) // so did the second

	r.Connected(now)
	fmt.Println(r.Next(now.Add(2 * time.Second))) // up 2s: not healthy, keep growing

	r.Connected(now)
	fmt.Println(r.Next(now.Add(time.Minute))) // up a minute: start over
	// Output:
	// 250ms
	// 500ms
	// 1s
	// 250ms
}
