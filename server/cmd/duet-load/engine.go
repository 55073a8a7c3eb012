package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A scenario is one bounded run against one target.
type scenario struct {
	Name        string        `json:"name"`
	Subs        int           `json:"subscribers"`
	SSEFraction float64       `json:"sseFraction"` // the share of subscribers on SSE; the rest on WebSocket
	Channels    int           `json:"channels"`
	Rate        float64       `json:"targetDeliveriesPerSec"` // 0: as fast as the window allows
	Idle        bool          `json:"idle"`                   // no publishing: connection cost only
	Payload     int           `json:"payloadBytes"`
	Warmup      time.Duration `json:"-"`
	Duration    time.Duration `json:"-"`      // measured (or held, when idle)
	Window      int           `json:"window"` // messages a channel's publisher may run ahead of its slowest subscriber
	Publishers  int           `json:"publishers"`
	// Soak: reconnect this share of subscribers (with resume) every interval.
	Reconnect float64       `json:"reconnectFraction,omitempty"`
	Interval  time.Duration `json:"-"`
}

func (s scenario) wire() string {
	switch s.SSEFraction {
	case 1:
		return "sse"
	case 0:
		return "ws"
	}
	return "mixed"
}

// subscriber is one client connection and what it has seen. The fields
// below "owned" are written by its reader goroutine only and read after it
// has stopped.
type subscriber struct {
	idx     int
	sse     bool
	channel *channelState

	last       atomic.Int64 // highest sequence number seen
	delivered  atomic.Int64
	heartbeats atomic.Int64
	live       atomic.Bool
	everLive   atomic.Bool
	finished   atomic.Bool // the reader gave up (or the run ended)
	reconnects atomic.Int64
	missing    atomic.Int64 // skipped sequence numbers not seen yet
	connMu     sync.Mutex   // guards conn and stream
	conn       net.Conn
	stream     func() // ends a stream not read through conn: HTTP/2 (-sse-h2), or epoll (-reader)

	// owned
	seq    seqChecker
	resume resumePoint
	gaps   int64
	err    error
}

type channelState struct {
	name      string
	subs      []*subscriber
	published atomic.Int64 // the last sequence number published
	minSeen   int64        // the publisher's cached minimum of subs' last
	// inDoubt holds the sequence numbers whose publish failed without an
	// answer (a timeout, a cut connection): the server may have stored
	// the message, and the retry then delivers it twice. Those second
	// copies are the instrument's, not the server's: counted apart.
	inDoubt sync.Map
}

// doubted tells whether seq's publish was retried without knowing whether
// the first try was stored.
func (c *channelState) doubted(seq int64) bool {
	_, ok := c.inDoubt.Load(seq)
	return ok
}

// run is the state of one scenario against one target.
type loadRun struct {
	sc      scenario
	t       *target
	host    string // host:port
	subs    []*subscriber
	chans   []*channelState
	hist    *shardedHistogram
	histMu  sync.Mutex   // guards swapping hist in soak mode
	winLo   atomic.Int64 // messages sent in [winLo, winHi) count towards latency
	winHi   atomic.Int64
	srcIPs  int
	coderWS bool     // read WebSocket with coder/websocket instead of wsConn
	h2      *h2Conns // SSE over HTTP/2 (-sse-h2); nil: HTTP/1.1, a connection each
	pollers *pollers // the epoll reader (-reader epoll); nil: a goroutine per connection

	publishErrors atomic.Int64
	publishedMsgs atomic.Int64
	stopping      atomic.Bool
}

func (r *loadRun) histogram() *shardedHistogram {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	return r.hist
}

// dialer returns a dialer bound to one of 127.0.0.2, 127.0.0.3, … so that
// many connections do not share one source address's ephemeral ports.
func (r *loadRun) dialer(i int) *net.Dialer {
	ip := net.IPv4(127, 0, 0, byte(2+i%r.srcIPs))
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
}

const readBuf = 16 << 10

// handshakeTimeout bounds a connection's handshake and subscription.
const handshakeTimeout = 15 * time.Second

// connect opens s's connection and waits until its subscription is live.
// It returns the function that reads the stream.
func (r *loadRun) connect(ctx context.Context, s *subscriber) (func() error, error) {
	var rp *resumePoint
	if s.reconnects.Load() > 0 && r.t.canResume {
		rp = &s.resume
	}
	if s.sse && r.h2 != nil {
		return r.connectH2(ctx, s, rp)
	}
	conn, err := r.dialer(s.idx).DialContext(ctx, "tcp", r.host)
	if err != nil {
		return nil, err
	}
	s.connMu.Lock()
	s.conn = conn
	s.connMu.Unlock()
	deadline := time.Now().Add(handshakeTimeout)
	_ = conn.SetDeadline(deadline)
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	if s.sse {
		path := r.t.ssePath(s.channel.name, rp)
		req := "GET " + path + " HTTP/1.1\r\nHost: " + r.host + "\r\nAccept: text/event-stream\r\n\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			return nil, err
		}
		br := bufio.NewReaderSize(conn, 4096)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return nil, fmt.Errorf("SSE: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
		if r.pollers != nil {
			ok = true // the poller owns conn from here
			return r.pollers.readSSE(r, s, conn, br, slices.Contains(resp.TransferEncoding, "chunked"))
		}
		sr := newSSEReader(bufio.NewReaderSize(resp.Body, readBuf))
		first, err := sr.Next()
		if err != nil {
			return nil, fmt.Errorf("SSE: first event: %w", err)
		}
		r.t.connected(first.Data, &s.resume)
		r.observe(s, first.Data, false)
		_ = conn.SetDeadline(time.Time{})
		ok = true
		return func() error { return r.readSSE(s, sr) }, nil
	}
	var ws wsMessages
	if r.coderWS {
		ws, err = dialCoderWS(ctx, conn, r.host, r.t.wsPath, r.t.wsProto)
	} else {
		ws, err = wsHandshake(conn, r.host, r.t.wsPath, r.t.wsProto, readBuf)
	}
	if err != nil {
		return nil, err
	}
	if err := ws.WriteText(r.t.wsHello(s.channel.name, rp)); err != nil {
		return nil, err
	}
	for {
		msg, err := ws.ReadMessage(nil)
		if err != nil {
			return nil, fmt.Errorf("WebSocket: waiting for the subscription: %w", err)
		}
		if bytes.Contains(msg, []byte(`"type":"error"`)) {
			return nil, fmt.Errorf("WebSocket: subscribe refused: %s", msg)
		}
		if bytes.Contains(msg, r.t.wsReady) {
			r.t.connected(msg, &s.resume)
			r.observe(s, msg, false)
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	ok = true
	if wc, own := ws.(*wsConn); own && r.pollers != nil {
		ahead, _ := wc.br.Peek(wc.br.Buffered())
		return r.pollers.readWS(r, s, conn, ahead)
	}
	return func() error { return r.readWS(s, ws) }, nil
}

var (
	gapMarker = []byte(`"reason":`)
	gapType   = []byte(`"gap"`) // Duet's WebSocket gap frame; on SSE the event is duet.gap and its data a gap frame
)

// observe takes the messages of one frame (an SSE event's data or a
// WebSocket message). A frame without messages counts as a heartbeat (or a
// gap notice) when live, that is after the subscription was confirmed.
func (r *loadRun) observe(s *subscriber, frame []byte, live bool) {
	hist := r.histogram()
	lo, hi := r.winLo.Load(), r.winHi.Load()
	now := time.Now().UnixNano()
	n := scanPayloads(frame, func(seq, sent int64) {
		s.seq.Observe(seq)
		if sent >= lo && sent < hi {
			hist.Record(s.idx, time.Duration(now-sent))
		}
	})
	// A gap notice may share a batched WebSocket message with messages.
	isGap := bytes.Contains(frame, gapMarker) && bytes.Contains(frame, gapType)
	if isGap {
		s.gaps++
	}
	if n == 0 {
		if live && !isGap && len(frame) > 0 {
			s.heartbeats.Add(1)
		}
		return
	}
	s.last.Store(s.seq.Last())
	s.delivered.Add(int64(n))
	s.missing.Store(int64(len(s.seq.missing)))
	if r.t.canResume {
		r.t.resume(frame, &s.resume)
	}
}

func (r *loadRun) readSSE(s *subscriber, sr *sseReader) error {
	for {
		ev, err := sr.Next()
		if err != nil {
			return err
		}
		if ev.Comment {
			s.heartbeats.Add(1)
			continue
		}
		r.observe(s, ev.Data, true)
	}
}

func (r *loadRun) readWS(s *subscriber, ws wsMessages) error {
	hb := func() { s.heartbeats.Add(1) }
	for {
		msg, err := ws.ReadMessage(hb)
		if err != nil {
			return err
		}
		r.observe(s, msg, true)
	}
}

// subscriberLoop connects s, reads until the connection ends, and, while
// reconnect says so, connects again (resuming where it stood).
func (r *loadRun) subscriberLoop(ctx context.Context, s *subscriber, ready func(error), reconnect bool) {
	defer s.finished.Store(true)
	first := true
	for {
		read, err := r.connect(ctx, s)
		if first {
			ready(err)
			first = false
		}
		if err != nil {
			if r.stopping.Load() || ctx.Err() != nil {
				return
			}
			if !reconnect {
				s.err = err
				return
			}
			time.Sleep(200 * time.Millisecond)
			s.reconnects.Add(1)
			continue
		}
		s.live.Store(true)
		s.everLive.Store(true)
		err = read()
		s.live.Store(false)
		if ctx.Err() != nil || r.stopping.Load() || !reconnect {
			if ctx.Err() == nil && !r.stopping.Load() {
				s.err = err
			}
			return
		}
		s.reconnects.Add(1)
	}
}

// closeConn drops s's connection (the reader sees an error).
func (s *subscriber) closeConn() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
	if s.stream != nil {
		s.stream()
	}
}

// publisher publishes to its channels (every p-th of them) over one
// keep-alive HTTP connection, at rate messages/s in total (0: as fast as the
// window allows), until ctx ends.
func (r *loadRun) publisher(ctx context.Context, chans []*channelState, rate float64) {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 2,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + r.host + r.t.publishPath
	var payload, body []byte
	start := time.Now()
	var k int64
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	next := 0
	for ctx.Err() == nil {
		if interval > 0 {
			due := start.Add(time.Duration(k) * interval)
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
		}
		// The next channel whose window is open.
		var c *channelState
		for range chans {
			cand := chans[next%len(chans)]
			next++
			if r.windowOpen(cand) {
				c = cand
				break
			}
		}
		if c == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Microsecond):
			}
			continue
		}
		seq := c.published.Load() + 1
		payload = appendPayload(payload[:0], seq, time.Now().UnixNano(), r.sc.Payload)
		body = r.t.publishBody(body[:0], c.name, payload)
		if err := r.publishOnce(ctx, client, url, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.publishErrors.Add(1)
			if !errors.Is(err, errPublish) { // no answer: it may be stored
				c.inDoubt.Store(seq, struct{}{})
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.published.Store(seq)
		r.publishedMsgs.Add(1)
		k++
	}
}

// windowOpen tells whether c's publisher may publish: no live subscriber of
// c is more than the window behind. A subscriber that is reconnecting does
// not hold the others back; it catches up through resume.
func (r *loadRun) windowOpen(c *channelState) bool {
	pub := c.published.Load()
	if pub-c.minSeen < int64(r.sc.Window) {
		return true
	}
	lowest := pub
	for _, s := range c.subs {
		if !s.live.Load() {
			continue
		}
		if l := s.last.Load(); l < lowest {
			lowest = l
		}
	}
	c.minSeen = lowest
	return pub-lowest < int64(r.sc.Window)
}

var errPublish = errors.New("publish failed")

func (r *loadRun) publishOnce(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range r.t.publishHeaders {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	var buf [512]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: %s", errPublish, resp.Status, buf[:n])
	}
	if r.t.publishFailed != nil && r.t.publishFailed(buf[:n]) {
		return fmt.Errorf("%w: %s", errPublish, buf[:n])
	}
	return nil
}

// sum adds up f over the subscribers.
func (r *loadRun) sum(f func(*subscriber) int64) int64 {
	var n int64
	for _, s := range r.subs {
		n += f(s)
	}
	return n
}

func (r *loadRun) totalDelivered() int64 {
	return r.sum(func(s *subscriber) int64 { return s.delivered.Load() })
}

func (r *loadRun) totalHeartbeats() int64 {
	return r.sum(func(s *subscriber) int64 { return s.heartbeats.Load() })
}

func (r *loadRun) liveCount() int {
	return int(r.sum(func(s *subscriber) int64 {
		if s.live.Load() {
			return 1
		}
		return 0
	}))
}

// channelName names channel i.
func channelName(i int) string { return "load-" + strconv.Itoa(i) }
