package natsbroker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a stored message. The payload is the message's data (JSON, or
// raw bytes when Duet-Encoding is "binary"); the channel is in the subject
// and the id is the stream sequence.
const (
	hdrEvent    = "Duet-Event"
	hdrTS       = "Duet-Ts"
	hdrEncoding = "Duet-Encoding"

	encodingBinary = "binary"
)

// Broker is a server.Broker over NATS JetStream. Create it with New.
type Broker struct {
	cfg     Config
	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream
	stream  jetstream.Stream
	log     *slog.Logger

	status      chan nats.Status // the connection's status changes
	reconnected chan struct{}    // capacity 1: the connection came back
	ready       chan struct{}    // closed when the live feed first runs
	readyOnce   sync.Once
	stop        context.CancelFunc
	wg          sync.WaitGroup // the live feed and the status watcher
	nodeOnce    sync.Once      // makes node
	node        string         // this node's id in control messages

	mu sync.Mutex // guards everything below
	// epoch is the stream's creation time in Unix milliseconds.
	epoch uint64
	// liveSeq is the stream sequence of the last message the live feed
	// handed to the fan-out: every message up to it has been delivered to
	// the subscribers of its channel (or buffered for them).
	liveSeq uint64
	// acked is the highest sequence a Publish of this node was given.
	acked    uint64
	channels map[string]*channelSubs
	subs     map[server.Subscriber]*subState
	// feedErr is why the live feed is not running; nil when it is.
	feedErr error
	closed  bool

	// afterRead, when set (by tests), runs after each replay read of a
	// Subscribe call, round 0 being the replay itself.
	afterRead func(round int)

	presenceOnce sync.Once // starts presence, or (in Close) prevents it
	presence     server.PresenceStore
}

// channelSubs are one channel's subscribers on this node.
type channelSubs struct {
	subs  []binding
	index map[server.Subscriber]int
}

type binding struct {
	sub server.Subscriber
	st  *subState
	// after is where live delivery starts: the client's resume id, or for
	// a subscribe without one the newest id the node knew of (its own
	// publishes can be acknowledged before the live feed hands them over).
	// A node whose feed lags behind a client does not deliver twice.
	after uint64
}

// subState is what the broker knows of one subscriber. Fields are guarded
// by Broker.mu, except turn.
type subState struct {
	channels map[string]struct{}
	// turn serialises the Subscribe calls of one subscriber: the one that
	// holds it (a value in the channel) may be catching up.
	turn chan struct{}
	// users counts Subscribe calls holding or awaiting turn; the state
	// outlives its last channel until they are done.
	users int
	// resuming holds the channels whose replay is being read; nil when none.
	// The live feed buffers their messages in pending instead of delivering
	// them, up to Config.CatchUpBuffer; past that it drops them all and sets
	// overflowed, and the Subscribe call reads them from the stream instead.
	resuming   map[string]struct{}
	pending    []*server.Message
	overflowed bool
}

var errFeedStarting = errors.New("duet/natsbroker: the live feed is starting")

// unavailableError is a broker failure the client should retry later: it
// carries shared.CodeBrokerUnavailable for the hub (errors.As) and the cause
// for logs.
type unavailableError struct {
	code  *shared.Error
	cause error
}

func (e *unavailableError) Error() string {
	return "duet/natsbroker: " + e.cause.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{e.code, e.cause} }

func unavailable(cause error) error {
	var u *unavailableError
	if errors.As(cause, &u) {
		return cause
	}
	return &unavailableError{
		code:  shared.NewError(shared.CodeBrokerUnavailable, "the message broker is unavailable: retry in a moment"),
		cause: cause,
	}
}

// New connects to NATS, creates or updates the stream and starts the live
// feed. It returns once the feed runs, or fails when ctx ends first.
func New(ctx context.Context, cfg *Config) (*Broker, error) {
	c := cfg.withDefaults()
	if !validSubject(c.SubjectPrefix) {
		return nil, errors.New("duet/natsbroker: subject prefix " + strconv.Quote(c.SubjectPrefix) + " is not a valid NATS subject")
	}
	if !validSubject(c.PresenceSubject) || strings.HasPrefix(c.PresenceSubject+".", c.SubjectPrefix+".") {
		return nil, errors.New("duet/natsbroker: presence subject " + strconv.Quote(c.PresenceSubject) + " must be a valid NATS subject outside the subject prefix " + strconv.Quote(c.SubjectPrefix))
	}
	b := &Broker{
		cfg:         c,
		log:         c.Logger,
		reconnected: make(chan struct{}, 1),
		ready:       make(chan struct{}),
		channels:    make(map[string]*channelSubs),
		subs:        make(map[server.Subscriber]*subState),
		feedErr:     errFeedStarting,
	}
	b.nc = c.Conn
	if b.nc == nil {
		opts := append([]nats.Option{
			nats.Name("duet"),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250 * time.Millisecond),
			nats.ReconnectJitter(250*time.Millisecond, time.Second),
			nats.Timeout(c.RequestTimeout),
			// Notice a silently dead link within about 20s, not 4 minutes.
			nats.PingInterval(10 * time.Second),
			nats.MaxPingsOutstanding(2),
		}, c.Options...)
		nc, err := nats.Connect(c.URL, opts...)
		if err != nil {
			return nil, unavailable(err)
		}
		b.nc, b.ownConn = nc, true
	}
	fail := func(err error) (*Broker, error) {
		if b.ownConn {
			b.nc.Close()
		}
		return nil, err
	}
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fail(err)
	}
	b.js = js
	rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	info, err := b.ensureStream(rctx)
	if err == nil {
		// A handle by name: it stays valid when the stream is re-created.
		b.stream, err = js.Stream(rctx, c.Stream)
	}
	cancel()
	if err != nil {
		return fail(unavailable(err))
	}
	b.epoch = epochOf(info)
	b.liveSeq = info.State.LastSeq

	b.status = b.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	feedCtx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.wg.Add(2)
	go b.watchStatus(feedCtx)
	go b.runFeed(feedCtx)
	select {
	case <-b.ready:
		return b, nil
	case <-ctx.Done():
		_ = b.Close()
		return nil, ctx.Err()
	}
}

// streamConfig is the stream Duet needs: limits from Config, and no deletes
// or purges, so that messages leave only by the limits, oldest first (which
// gap detection relies on).
func (b *Broker) streamConfig() jetstream.StreamConfig {
	c := b.cfg
	maxPer := int64(c.HistorySize)
	if maxPer < 0 {
		maxPer = -1
	}
	maxBytes := c.HistoryBytes
	if maxBytes < 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "Duet messages: one subject per channel; ids are <created ms>-<sequence>",
		Subjects:          []string{c.SubjectPrefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: maxPer,
		MaxAge:            c.HistoryTTL,
		MaxBytes:          maxBytes,
		MaxMsgs:           -1,
		Duplicates:        c.IdempotencyWindow,
		Storage:           c.Storage,
		Replicas:          c.Replicas,
		DenyDelete:        true,
		DenyPurge:         true,
	}
}

// metaHistoryFloor is the stream metadata key that records the lowest
// per-channel limit the stream ever had (-1: never limited). Gap detection
// trusts "the channel never filled its limit" only below it: a channel that
// overflowed a lower, earlier limit may hold fewer messages than today's.
const metaHistoryFloor = "duet_history_floor"

// historyFloor returns the lowest per-channel limit the stream ever had;
// zero or negative means it never had one.
func historyFloor(cfg *jetstream.StreamConfig) int64 {
	if v, err := strconv.ParseInt(cfg.Metadata[metaHistoryFloor], 10, 64); err == nil {
		return v
	}
	return cfg.MaxMsgsPerSubject
}

// lowerLimit returns the stricter of two per-channel limits (≤ 0: none).
func lowerLimit(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// ensureStream returns the stream's info, creating the stream or updating
// its limits to this node's configuration.
func (b *Broker) ensureStream(ctx context.Context) (*jetstream.StreamInfo, error) {
	cfg := b.streamConfig()
	floor := cfg.MaxMsgsPerSubject
	switch old, err := b.js.Stream(ctx, cfg.Name); {
	case err == nil:
		floor = lowerLimit(historyFloor(&old.CachedInfo().Config), floor)
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, unavailable(err)
	}
	cfg.Metadata = map[string]string{metaHistoryFloor: strconv.FormatInt(floor, 10)}
	s, err := b.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, unavailable(err)
	}
	info := s.CachedInfo()
	if info == nil {
		if info, err = s.Info(ctx); err != nil {
			return nil, unavailable(err)
		}
	}
	return info, nil
}

func epochOf(info *jetstream.StreamInfo) uint64 {
	ms := info.Created.UnixMilli()
	if ms <= 0 {
		return 1
	}
	return uint64(ms)
}

// validSubject reports whether s is a literal NATS subject: dot-separated
// non-empty tokens without wildcards or white space.
func validSubject(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ', c == 0x7f, c == '*', c == '>':
			return false
		case c == '.' && s[i+1] == '.':
			return false
		}
	}
	return true
}

// Epoch returns the stream's epoch: the first part of every id.
func (b *Broker) Epoch() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch
}

// Stream returns the name of the broker's JetStream stream.
func (b *Broker) Stream() string { return b.cfg.Stream }

// SubjectPrefix returns the subject prefix of the broker's channels.
func (b *Broker) SubjectPrefix() string { return b.cfg.SubjectPrefix }

// Publish implements server.Broker: it returns once JetStream has stored the
// message; the id is the stream sequence of the acknowledgement.
func (b *Broker) Publish(ctx context.Context, channel, event string, data []byte) (*server.Message, error) {
	m, _, err := b.publish(ctx, channel, event, data, false, "")
	return m, err
}

// PublishBinary implements server.BinaryBroker: Publish for raw bytes,
// stored with the Duet-Encoding header so that replays are binary too.
func (b *Broker) PublishBinary(ctx context.Context, channel, event string, data []byte) (*server.Message, error) {
	m, _, err := b.publish(ctx, channel, event, data, true, "")
	return m, err
}

// PublishOnce implements server.IdempotentBroker with JetStream's own
// de-duplication: the message's Nats-Msg-Id is the channel and the key, and
// the stream remembers it for Config.IdempotencyWindow, for every node. A
// repeat is acknowledged with the first message's sequence.
func (b *Broker) PublishOnce(ctx context.Context, key, channel, event string, data []byte, binary bool) (shared.ID, bool, error) {
	m, dup, err := b.publish(ctx, channel, event, data, binary, key)
	if err != nil {
		return shared.ID{}, false, err
	}
	return m.ID, dup, nil
}

// publish stores a message; with a key, under Nats-Msg-Id, and dup reports
// that JetStream had it already (the message returned then carries the
// first one's id).
func (b *Broker) publish(ctx context.Context, channel, event string, data []byte, binary bool, key string) (m *server.Message, dup bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, false, server.ErrBrokerClosed
	}
	if st := b.nc.Status(); st != nats.CONNECTED {
		// Fail now rather than park the message in the client's reconnect
		// buffer: the caller holds an HTTP request or a WebSocket ack.
		return nil, false, unavailable(errors.New("NATS connection is " + st.String()))
	}
	if event == "" {
		event = shared.DefaultEvent
	}
	ts := time.Now().UnixMilli()
	msg := nats.NewMsg(subjectFor(b.cfg.SubjectPrefix, channel))
	msg.Header.Set(hdrEvent, event)
	msg.Header.Set(hdrTS, strconv.FormatInt(ts, 10))
	if binary {
		msg.Header.Set(hdrEncoding, encodingBinary)
	}
	msg.Data = data
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(b.cfg.Stream)}
	if key != "" {
		// A space separates them: channel names have none, and keys are
		// printable ASCII without spaces.
		opts = append(opts, jetstream.WithMsgID(channel+" "+key))
	}
	pctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	ack, err := b.js.PublishMsg(pctx, msg, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, unavailable(err)
	}
	b.mu.Lock()
	b.acked = max(b.acked, ack.Sequence)
	epoch := b.epoch
	b.mu.Unlock()
	return newMessage(shared.ID{Epoch: epoch, Seq: ack.Sequence}, channel, event, data, ts, binary), ack.Duplicate, nil
}

// newMessage is server.NewBinaryMessage or server.NewMessage.
func newMessage(id shared.ID, channel, event string, data []byte, ts int64, binary bool) *server.Message {
	if binary {
		return server.NewBinaryMessage(id, channel, event, data, ts)
	}
	return server.NewMessage(id, channel, event, data, ts)
}

// toMessage turns a stored message into a server.Message. It fails for
// messages Duet did not publish: a subject that maps to no channel, or data
// that is not JSON.
func (b *Broker) toMessage(epoch uint64, subject string, hdr nats.Header, data []byte, seq uint64, stored time.Time) (*server.Message, error) {
	channel, err := channelOf(b.cfg.SubjectPrefix, subject)
	if err != nil {
		return nil, err
	}
	binary := hdr.Get(hdrEncoding) == encodingBinary
	if !binary && !shared.ValidJSON(data) {
		return nil, errors.New("duet/natsbroker: message " + strconv.FormatUint(seq, 10) + " on " + subject + " is not JSON")
	}
	event := hdr.Get(hdrEvent)
	if event == "" || shared.ValidateEvent(event) != nil {
		event = shared.DefaultEvent
	}
	ts, err := strconv.ParseInt(hdr.Get(hdrTS), 10, 64)
	if err != nil {
		ts = stored.UnixMilli()
	}
	return newMessage(shared.ID{Epoch: epoch, Seq: seq}, channel, event, data, ts, binary), nil
}

// Head implements server.Broker: the newest id this node has seen, from its
// live feed or its own publishes.
func (b *Broker) Head() shared.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return shared.ID{Epoch: b.epoch, Seq: max(b.liveSeq, b.acked)}
}

// Healthy implements server.Broker: nil while connected to NATS with the
// live feed running.
func (b *Broker) Healthy() error {
	b.mu.Lock()
	closed, ferr := b.closed, b.feedErr
	b.mu.Unlock()
	if closed {
		return server.ErrBrokerClosed
	}
	if st := b.nc.Status(); st != nats.CONNECTED {
		return errors.New("duet/natsbroker: NATS connection is " + st.String())
	}
	return ferr
}

// Close implements server.Broker. It stops the live feed and closes the
// connection if the broker made it. Subscribers are not told: the hub ends
// their connections.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.presenceOnce.Do(func() {})
	if p, ok := b.presence.(*clusterPresence); ok {
		p.close()
	}
	b.stop()
	b.wg.Wait()
	b.nc.RemoveStatusListener(b.status)
	if b.ownConn {
		b.nc.Close()
	}
	return nil
}

// watchStatus turns connection status changes into feed health: an outage
// marks the feed down at once, a reconnection makes the feed start over
// (the consumer it used may have gone with the server that held it).
func (b *Broker) watchStatus(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case st := <-b.status:
			switch st {
			case nats.CONNECTED:
				select {
				case b.reconnected <- struct{}{}:
				default:
				}
			default:
				b.setFeedErr(errors.New("duet/natsbroker: NATS connection is " + st.String()))
			}
		}
	}
}

func (b *Broker) setFeedErr(err error) {
	b.mu.Lock()
	changed := (b.feedErr == nil) != (err == nil)
	b.feedErr = err
	closed := b.closed
	b.mu.Unlock()
	if !changed || closed {
		return
	}
	if err != nil {
		b.log.Warn("duet/natsbroker: live feed down", "err", err)
	} else {
		b.log.Info("duet/natsbroker: live feed running")
	}
}
