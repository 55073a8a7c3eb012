package transport

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// Bus carries messages between the tabs of one origin that talk to one
// server: a BroadcastChannel in the browser. A tab does not receive its own
// posts; every other tab on the bus receives each post, in order.
type Bus interface {
	Post(p []byte)
}

// The kinds of bus messages (the Type of their frame). Followers announce
// themselves and their channels; the leader relays what its connection
// hears and publishes for the followers.
const (
	busTabHello = "tab.hello" // a tab opened (Channels); the leader answers with busLeader
	busTabSubs  = "tab.subs"  // a tab's channels changed, or it confirms itself to a new leader
	busTabBye   = "tab.bye"   // a tab closed
	busLeader   = "leader"    // the sender leads (state, wire in the header)
	busState    = "state"     // the leader's connection changed state (state, wire)
	busMessage  = shared.TypeMessage
	busGap      = shared.TypeGap
	busError    = shared.TypeError // the leader's connection reported an error (fatal in the header)
	busPublish  = shared.TypePublish
	busAck      = shared.TypeAck
	busNack     = "nack"    // a publish failed (Code, Message)
	busVisible  = "visible" // a follower's page became visible: the leader's may be hidden, its timers throttled
)

// busMsg is one bus message. On the bus it is a header line and a frame:
//
//	duet1 <from> <to or -> <state> <wire or -> <fatal 0|1>\n<frame JSON>
//
// The frame is shared's JSON frame whose type is the kind of message.
type busMsg struct {
	from  string
	to    string // "" for every tab
	state State
	wire  Kind
	fatal bool
	f     shared.Frame
}

const busMagic = "duet1"

var errBadBusMsg = errors.New("duet/transport: malformed bus message")

func appendBusMsg(dst []byte, m *busMsg) []byte {
	dst = append(dst, busMagic...)
	dst = append(dst, ' ')
	dst = append(dst, dash(m.from)...)
	dst = append(dst, ' ')
	dst = append(dst, dash(m.to)...)
	dst = append(dst, ' ')
	dst = append(dst, m.state.String()...)
	dst = append(dst, ' ')
	dst = append(dst, dash(m.wire.String())...)
	if m.fatal {
		dst = append(dst, " 1\n"...)
	} else {
		dst = append(dst, " 0\n"...)
	}
	return shared.AppendFrame(dst, &m.f)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s []byte) string {
	if len(s) == 1 && s[0] == '-' {
		return ""
	}
	return string(s)
}

func decodeBusMsg(p []byte) (busMsg, error) {
	nl := bytes.IndexByte(p, '\n')
	if nl < 0 {
		return busMsg{}, errBadBusMsg
	}
	var fields [6][]byte
	n, head := 0, p[:nl]
	for len(head) > 0 && n < len(fields) {
		i := bytes.IndexByte(head, ' ')
		if i < 0 {
			i = len(head)
		}
		fields[n], n = head[:i], n+1
		head = head[min(i+1, len(head)):]
	}
	if n != len(fields) || len(head) > 0 || string(fields[0]) != busMagic {
		return busMsg{}, errBadBusMsg
	}
	m := busMsg{
		from:  undash(fields[1]),
		to:    undash(fields[2]),
		state: parseState(string(fields[3])),
		wire:  parseKind(string(fields[4])),
		fatal: string(fields[5]) == "1",
	}
	if m.from == "" {
		return busMsg{}, errBadBusMsg
	}
	f, err := shared.DecodeFrame(p[nl+1:])
	if err != nil {
		return busMsg{}, err
	}
	m.f = f
	return m, nil
}

// newTabID returns a random tab id, unique enough among the tabs of one
// browser.
func newTabID() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}
