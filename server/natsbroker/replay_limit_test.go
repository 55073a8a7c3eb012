package natsbroker_test

import (
	"testing"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/brokertest"
	"github.com/duet-rt/duet/server/natsbroker"
	"github.com/duet-rt/duet/shared"
)

// TestReplayLimit: a resume replays at most MaxReplay messages and says
// where to continue (Resume.Continue); resuming from there, again and
// again, yields every message once, in id order, across channels.
func TestReplayLimit(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	b := newBroker(t, n.URL(), natsbroker.Config{MaxReplay: 5})
	// A resume replays what this node's live feed has seen and delivers the
	// rest live; the watcher makes sure the feed has seen every message, so
	// that the whole history is replay and the limit is what is tested.
	watcher := brokertest.NewRecorder()
	mustSubscribe(t, b, watcher, shared.ID{}, "a", "b")
	var all []*server.Message
	first := mustPublish(t, b, "a", 0)
	for i := 1; i <= 12; i++ {
		all = append(all, mustPublish(t, b, []string{"a", "b"}[i%2], i))
	}
	watcher.WaitForID(t, all[len(all)-1].Envelope.ID)
	var got []*server.Message
	from := first.ID
	for round := 0; ; round++ {
		if round > len(all) {
			t.Fatal("no progress")
		}
		r := brokertest.NewRecorder()
		mustSubscribe(t, b, r, from, "a", "b")
		res := r.Resumes()[0]
		if len(res.Messages) > 5 {
			t.Fatalf("round %d replayed %d messages, limit 5", round, len(res.Messages))
		}
		got = append(got, res.Messages...)
		if res.Continue.IsZero() {
			break
		}
		if last := res.Messages[len(res.Messages)-1].ID; res.Continue != last {
			t.Fatalf("continue at %v, want the last replayed id %v", res.Continue, last)
		}
		from = res.Continue
	}
	sameIDs(t, "replayed over several resumes", all, got)
}
