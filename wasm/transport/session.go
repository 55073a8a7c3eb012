package transport

import (
	"errors"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// session is what a [Conn] and a [Client] share: the lock and its outbox,
// the server's endpoints, the settings, the platform hooks, the resume
// cursor, the state as last told to the observer, and the publishes
// awaiting an answer. Both embed it; newConn and NewClient build it with
// init.
type session struct {
	serial
	ep  Endpoints
	cfg Options
	d   Dialer
	clk Clock
	obs Observer

	state    State
	kind     Kind // the wire of the live connection, or of the last one
	everOpen bool // the state was open at least once
	// told is the state and wire last reported to the observer.
	toldState State
	toldKind  Kind

	cursor  Cursor
	lastGap string // the resume id of the last gap notice reported

	refs    uint64
	pending map[string]*publication // awaiting the server's or the leader's answer
}

// init fills s from a constructor's arguments, with the defaults, and
// returns cfg.Channels validated, sorted and without duplicates. cfg may
// be nil.
func (s *session) init(ep Endpoints, cfg *Options, env Env) ([]string, error) {
	if cfg == nil {
		cfg = &Options{}
	}
	if env.Dialer == nil {
		return nil, errors.New("duet/transport: Env.Dialer is nil")
	}
	channels, err := normalizeChannels(cfg.Channels)
	if err != nil {
		return nil, err
	}
	// Checked here, for a Client too: a Client that starts leading builds
	// its Conn from this id, and must not be refused then.
	if len(cfg.LastEventID) > maxLastEventID {
		return nil, errors.New("duet/transport: lastEventId is too long (over " + strconv.Itoa(maxLastEventID) + " bytes)")
	}
	s.ep = ep.withInfo(cfg.Info)
	s.cfg = cfg.withDefaults()
	s.d, s.clk, s.obs = env.Dialer, env.Clock, env.Observer
	if s.clk == nil {
		s.clk = SystemClock{}
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.cursor = NewCursor(cfg.LastEventID)
	s.pending = make(map[string]*publication)
	return channels, nil
}

// maxLastEventID bounds Options.LastEventID: room for ids of another
// server's format, four times the longest Duet id.
const maxLastEventID = shared.MaxIDLength * 4

type nopObserver struct{}

func (nopObserver) StateChanged(State, Kind)  {}
func (nopObserver) Message(*shared.Envelope)  {}
func (nopObserver) Gap(*Gap)                  {}
func (nopObserver) Error(*shared.Error, bool) {}

// setStateLocked moves to state st on wire k and tells the observer, if
// either changed since it was last told.
func (s *session) setStateLocked(st State, k Kind) {
	s.state, s.kind = st, k
	if st == StateOpen {
		s.everOpen = true
	}
	if s.toldState == st && s.toldKind == k {
		return
	}
	s.toldState, s.toldKind = st, k
	obs := s.obs
	s.later(func() { obs.StateChanged(st, k) })
}

// acceptGapLocked moves the cursor to a gap notice's id and reports whether
// the notice is new: the same one comes again from a second wire, or
// relayed by the leader after the connection reported it.
func (s *session) acceptGapLocked(g *Gap) bool {
	if g.ID == "" {
		return true
	}
	if g.ID == s.lastGap {
		return false
	}
	s.lastGap = g.ID
	if s.cursor.Accept(g.ID); s.cursor.Last() != g.ID {
		s.cursor.Jump(g.ID)
	}
	return true
}

// nextRef returns a new reference for a request: prefix and a counter.
func (s *session) nextRef(prefix byte) string {
	s.refs++
	return string(strconv.AppendUint([]byte{prefix}, s.refs, 10))
}
