package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// TestAdversaries runs adversarial clients, one kind after another, against
// one server while two honest clients (SSE and WebSocket) stream a numbered
// sequence alongside. After each kind the server must have dropped what it
// should on its own; at the end the honest clients must hold every message
// in order, and goroutines and heap must be back to their baseline.
func TestAdversaries(t *testing.T) {
	faultRun(t)
	before := measure()
	cfg := server.Config{
		// Deadlines loose enough that the honest clients keep up on a
		// loaded machine under -race; adversaries are cut all the same.
		Heartbeat:           time.Second,
		WriteTimeout:        3 * time.Second,
		QueueSize:           4096,
		MaxChannels:         16,
		MaxFrameBytes:       16 << 10,
		MaxPublishBytes:     16 << 10,
		MaxConnections:      400,
		MaxConnectionsPerIP: 300,
		IdleTimeout:         2 * time.Second,
		BodyTimeout:         time.Second,
	}
	const headerTimeout = time.Second
	tg := startTarget(t, cfg, server.MemoryConfig{HistorySize: 500, MaxChannels: 500, MaxHistoryBytes: 8 << 20}, headerTimeout)
	// The storms measure the broker's bounds, so every storm publish must
	// reach the broker: they run on a second hub over the same broker, with
	// publish and subscribe rate limits off (they have their own tests; the
	// defaults refused most storm publishes, and some storm subscribes,
	// with 4429) and the default heartbeat,
	// write and idle timeouts (the tight ones above are for the
	// adversaries, and cut storm connections on a loaded machine).
	storm := tg.alongside(t, server.Config{
		QueueSize:             4096,
		MaxChannels:           16,
		MaxFrameBytes:         16 << 10,
		PublishRate:           -1,
		IdentityPublishRate:   -1,
		SubscribeRate:         -1,
		IdentitySubscribeRate: -1,
	})

	honestOnes, stopHonest := honestClients(t, "honest", tg.url)
	// The publisher: numbered messages on "honest", every 5 ms, all run.
	var published atomic.Int64
	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			if _, err := tg.hub.Publish(pubCtx, "honest", "", []byte(`{"n":`+strconv.Itoa(n)+`}`)); err != nil {
				return
			}
			published.Store(int64(n))
		}
	}()
	defer func() { stopPub(); <-pubDone }()
	for _, h := range honestOnes {
		h.waitFor(t, 1, waitTimeout)
	}
	honestConns := int64(len(honestOnes))
	base := measure()
	t.Logf("baseline with the server and honest clients up: %v", base)

	var report []string
	row := func(format string, args ...any) {
		report = append(report, fmt.Sprintf(format, args...))
		t.Logf(format, args...)
	}
	// flood publishes 4 KiB messages on "flood" until stopped, to fill the
	// buffers of clients that do not read.
	flood := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		pad := `{"pad":"` + strings.Repeat("x", 4<<10) + `"}`
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if _, err := tg.hub.Publish(ctx, "flood", "", []byte(pad)); err != nil {
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		return func() { cancel(); <-done }
	}

	t.Run("never-reading clients", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var conns []net.Conn
		for range 20 {
			c, status, err := rawSSE(ctx, tg.addr, "channel=flood&channel=honest", "", 4<<10)
			if err != nil || status != http.StatusOK {
				t.Fatalf("never-reading SSE client: status %d, %v", status, err)
			}
			conns = append(conns, c)
			ws, status, err := dialRawWS(ctx, tg.addr, 4<<10)
			if err != nil || ws == nil {
				t.Fatalf("never-reading WS client: status %d, %v", status, err)
			}
			if err := ws.writeFrame(opText, []byte(`{"type":"subscribe","channels":["flood","honest"]}`)); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, ws.conn)
		}
		stop := flood()
		took := tg.waitConnections(t, "never-reading clients", honestConns, waitTimeout)
		stop()
		for _, c := range conns {
			c.Close()
		}
		m := tg.metrics(t)
		assertWithin(t, "cutting off 40 never-reading clients", took, 0, 10*time.Second)
		row("never-reading clients | 20 SSE + 20 WS that never read, under a 4 KiB-message flood | all 40 cut off in %v (%d slow-consumer cuts, %d write errors)",
			took.Round(time.Millisecond), m["duet_slow_consumer_disconnects_total"], m["duet_write_errors_total"])
	})

	t.Run("half-open connections", func(t *testing.T) {
		bh, err := NewBlackHole(tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer bh.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var wg sync.WaitGroup
		defer wg.Wait()
		for range 10 {
			c, status, err := rawSSE(ctx, bh.Addr(), "channel=flood&channel=honest", "", 4<<10)
			if err != nil || status != http.StatusOK {
				t.Fatalf("SSE through the proxy: status %d, %v", status, err)
			}
			defer c.Close()
			// Read until the black hole swallows, like a live client.
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			ws, _, err := websocket.Dial(ctx, "ws://"+bh.Addr()+"/rt/ws", &websocket.DialOptions{Subprotocols: []string{shared.Protocol}})
			if err != nil {
				t.Fatalf("WS through the proxy: %v", err)
			}
			defer ws.CloseNow()
			sub := []byte(`{"type":"subscribe","channels":["honest"]}`)
			if err := ws.Write(ctx, websocket.MessageText, sub); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				for {
					if _, _, err := ws.Read(ctx); err != nil {
						return
					}
				}
			})
		}
		tg.waitConnections(t, "clients through the proxy", honestConns+20, waitTimeout)
		bh.Swallow()
		stop := flood()
		took := tg.waitConnections(t, "half-open connections", honestConns, waitTimeout)
		stop()
		m := tg.metrics(t)
		assertWithin(t, "dropping 20 half-open connections", took, 0, 10*time.Second)
		row("half-open connections | 10 SSE + 10 WS behind a proxy that stops forwarding without closing | all 20 dropped in %v (%d WS ping timeouts)",
			took.Round(time.Millisecond), m["duet_heartbeat_timeouts_total"])
		_ = bh.Close()
	})

	t.Run("handshake flood and slowloris", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var upgraded, refused429, refused503, other atomic.Int64
		var held sync.Mutex
		var keep []*rawWS
		var wg sync.WaitGroup
		for range 400 {
			wg.Go(func() {
				ws, status, err := dialRawWS(ctx, tg.addr, 0)
				switch {
				case err != nil:
					other.Add(1)
				case status == http.StatusSwitchingProtocols:
					upgraded.Add(1)
					_ = ws.writeFrame(opText, []byte(`{"type":"subscribe","channels":["f"]}`))
					held.Lock()
					keep = append(keep, ws)
					held.Unlock()
				case status == http.StatusTooManyRequests:
					refused429.Add(1)
				case status == http.StatusServiceUnavailable:
					refused503.Add(1)
				default:
					other.Add(1)
				}
			})
		}
		wg.Wait()
		// Slowloris, once the flood is over (so that its timing is the
		// header timeout's, not a backlog's): request headers one byte
		// every 100 ms, and silent connections that send nothing at all.
		var slowClosed, silentClosed atomic.Int64
		var closedAfter durations // how long each slowloris connection lived
		for range 40 {
			wg.Go(func() {
				c, err := dial(ctx, tg.addr, 0)
				if err != nil {
					return
				}
				defer c.Close()
				start := time.Now()
				req := "GET /rt/sse?channel=x HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
				for i := range len(req) {
					if _, err := c.Write([]byte{req[i]}); err != nil {
						slowClosed.Add(1)
						closedAfter.add(time.Since(start))
						return
					}
					_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := c.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
						slowClosed.Add(1)
						closedAfter.add(time.Since(start))
						return
					}
				}
			})
			wg.Go(func() {
				c, err := dial(ctx, tg.addr, 0)
				if err != nil {
					return
				}
				defer c.Close()
				start := time.Now()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					silentClosed.Add(1)
					closedAfter.add(time.Since(start))
				}
			})
		}
		wg.Wait()
		if got := upgraded.Load(); got+honestConns > int64(cfg.MaxConnectionsPerIP) {
			t.Errorf("%d upgrades with %d honest connections, over the per-address limit %d", got, honestConns, cfg.MaxConnectionsPerIP)
		}
		if refused429.Load()+refused503.Load() == 0 || other.Load() > 0 {
			t.Errorf("flood of 400: %d upgraded, %d 429, %d 503, %d other", upgraded.Load(), refused429.Load(), refused503.Load(), other.Load())
		}
		if slowClosed.Load() != 40 || silentClosed.Load() != 40 {
			t.Errorf("slowloris: the server closed %d of 40 byte-a-tick requests and %d of 40 silent connections", slowClosed.Load(), silentClosed.Load())
		}
		// Closed by the header timeout (1 s): not before it.
		first, lastClose := closedAfter.span()
		// Measured from the client's connect: promised within 2 s.
		assertWithin(t, "closing the first slowloris connection", first, headerTimeout-100*time.Millisecond, 2*time.Second)
		assertWithin(t, "closing the last slowloris connection", lastClose, headerTimeout-100*time.Millisecond, 2*time.Second)
		for _, ws := range keep {
			ws.conn.Close()
		}
		tg.waitConnections(t, "after the flood", honestConns, waitTimeout)
		row("handshake flood | 400 concurrent WebSocket upgrades from one address (limit %d) | %d upgraded, %d refused 429, %d refused 503",
			cfg.MaxConnectionsPerIP, upgraded.Load(), refused429.Load(), refused503.Load())
		row("slowloris | 40 requests sending a header byte per 100 ms, 40 silent connections | %d and %d closed by the header timeout (1 s), %v to %v after connecting",
			slowClosed.Load(), silentClosed.Load(), first.Round(time.Millisecond), lastClose.Round(time.Millisecond))
	})

	t.Run("idle WebSockets", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var codes sync.Map
		var closedAfter durations
		var wg sync.WaitGroup
		for range 50 {
			ws, _, err := dialRawWS(ctx, tg.addr, 0)
			if err != nil || ws == nil {
				t.Fatalf("idle WS: %v", err)
			}
			defer ws.conn.Close()
			start := time.Now()
			wg.Go(func() {
				codes.Store(ws, ws.closeCode(10*time.Second))
				closedAfter.add(time.Since(start))
			})
		}
		wg.Wait()
		first, lastClose := closedAfter.span()
		assertWithin(t, "closing the first idle WebSocket", first, cfg.IdleTimeout-200*time.Millisecond, cfg.IdleTimeout)
		assertWithin(t, "closing the last idle WebSocket", lastClose, cfg.IdleTimeout-200*time.Millisecond, cfg.IdleTimeout)
		n := 0
		codes.Range(func(_, v any) bool {
			if v.(int) == int(shared.CodeIdle) {
				n++
			}
			return true
		})
		if n != 50 {
			t.Errorf("%d of 50 idle WebSockets closed with %d", n, shared.CodeIdle)
		}
		row("idle WebSockets | 50 that never subscribe nor send | %d closed with 4004 after the idle timeout (2 s): %v to %v after the upgrade",
			n, first.Round(time.Millisecond), lastClose.Round(time.Millisecond))
	})

	t.Run("oversized and malformed input", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		rng := rand.New(rand.NewPCG(1, 2))
		tried, statuses := 0, map[int]int{}
		// WebSocket frames, each on a fresh connection: the close code or
		// the error frame's code must be the documented one.
		wsCases := []struct {
			name  string
			op    byte
			frame []byte
			close int         // expected close code; 0: the connection is kept
			code  shared.Code // the error frame's code, when close is 0
			reply string      // instead of an error frame, a reply containing this
		}{
			{"over the frame limit", opText, bytes.Repeat([]byte("x"), 17<<10), 1009, 0, ""},
			{"undecodable binary", opBinary, []byte{0, 1, 2}, 0, shared.CodeBadRequest, ""},
			{"not JSON", opText, []byte("{oops"), 0, shared.CodeBadRequest, ""},
			// Invalid UTF-8 in a string becomes U+FFFD, as encoding/json
			// does: the ping is answered.
			{"invalid UTF-8", opText, []byte("{\"type\":\"ping\",\"ref\":\"\xff\"}"), 0, 0, `"type":"pong"`},
			{"deep nesting", opText, []byte(`{"type":"publish","channel":"a","data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`), 0, shared.CodeBadRequest, ""},
			{"unknown type", opText, []byte(`{"type":"hack"}`), 0, shared.CodeUnknownType, ""},
			{"bad channel", opText, []byte(`{"type":"subscribe","channels":["a b"]}`), 0, shared.CodeBadChannel, ""},
			{"too many channels", opText, []byte(`{"type":"subscribe","channels":[` + strings.TrimSuffix(strings.Repeat(`"c",`, 40), ",") + `]}`), 0, shared.CodeTooManyChannels, ""},
			{"publish without data", opText, []byte(`{"type":"publish","channel":"a"}`), 0, shared.CodeBadRequest, ""},
		}
		for _, c := range wsCases {
			ws, _, err := dialRawWS(ctx, tg.addr, 0)
			if err != nil || ws == nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			_ = ws.writeFrame(c.op, c.frame)
			if c.close != 0 {
				if got := ws.closeCode(5 * time.Second); got != c.close {
					t.Errorf("%s: close code %d, want %d", c.name, got, c.close)
				}
			} else {
				// An error frame with the documented code answers, then
				// the connection still pongs.
				if c.reply != "" {
					if !ws.readUntil(5*time.Second, c.reply) {
						t.Errorf("%s: no reply with %s", c.name, c.reply)
					}
				} else if got := ws.errorCode(5 * time.Second); got != int(c.code) {
					t.Errorf("%s: error frame code %d, want %d", c.name, got, c.code)
				}
				_ = ws.writeFrame(opText, []byte(`{"type":"ping","ref":"alive"}`))
				if !ws.readUntil(5*time.Second, `"ref":"alive"`) {
					t.Errorf("%s: no pong after the bad frame", c.name)
				}
			}
			ws.conn.Close()
			tried++
		}
		// Random garbage lines in valid frames, many per frame.
		ws, _, err := dialRawWS(ctx, tg.addr, 0)
		if err != nil || ws == nil {
			t.Fatal(err)
		}
		for range 200 {
			line := make([]byte, rng.IntN(200))
			for i := range line {
				line[i] = byte(rng.IntN(256))
				if line[i] == '\n' {
					line[i] = '{'
				}
			}
			_ = ws.writeFrame(opText, line)
			tried++
		}
		_ = ws.writeFrame(opText, []byte(`{"type":"ping","ref":"alive"}`))
		if !ws.readUntil(10*time.Second, `"ref":"alive"`) {
			t.Errorf("no pong after 200 garbage frames")
		}
		ws.conn.Close()

		// Publish bodies.
		post := func(ct string, body io.Reader) int {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tg.url+"/rt/publish", body)
			req.Header.Set("Content-Type", ct)
			req.Close = true
			resp, err := http.DefaultClient.Do(req)
			tried++
			if err != nil {
				statuses[-1]++
				return -1
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
			return resp.StatusCode
		}
		expect := func(name string, got, want int) {
			if got != want {
				t.Errorf("publish %s: status %d, want %d", name, got, want)
			}
		}
		expect("oversized", post("application/json", strings.NewReader(`{"channel":"a","data":"`+strings.Repeat("x", 64<<10)+`"}`)), 413)
		expect("endless body", post("application/json", io.LimitReader(zeros{}, 8<<20)), 413)
		expect("not JSON", post("application/json", strings.NewReader("{oops")), 400)
		expect("text/plain", post("text/plain", strings.NewReader(`{"channel":"a","data":1}`)), 415)
		expect("bad channel", post("application/json", strings.NewReader(`{"channel":"a b","data":1}`)), 400)
		for range 200 {
			body := make([]byte, rng.IntN(300))
			for i := range body {
				body[i] = byte(rng.IntN(256))
			}
			if s := post("application/json", bytes.NewReader(body)); s != 400 {
				t.Errorf("random body: status %d, want 400", s)
			}
		}
		// A body trickled slower than BodyTimeout allows.
		c, err := dial(ctx, tg.addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /rt/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := c.Write([]byte(" ")); err != nil {
				break
			}
			if _, err := c.Read(make([]byte, 4096)); err != nil && !isTimeout(err) {
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if time.Since(start) > 10*time.Second {
				t.Errorf("a trickled body was still being read after %v", time.Since(start))
				break
			}
		}
		slowBody := time.Since(start)
		c.Close()
		assertWithin(t, "cutting a trickled body", slowBody, cfg.BodyTimeout-100*time.Millisecond, cfg.BodyTimeout)
		tried++
		row("oversized and malformed input | %d inputs: 9 kinds of bad WebSocket frame, 200 random frames, oversized/endless/random/mistyped publish bodies (HTTP statuses %v), a body trickled byte by byte | every one answered with its documented code; trickled body cut after %v",
			tried, statuses, slowBody.Round(time.Millisecond))
	})

	t.Run("forged resume ids", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		epoch := tg.broker.Epoch()
		cases := []struct {
			id     string
			status int  // SSE answer
			gap    bool // answered with a gap notice
		}{
			{strconv.FormatUint(epoch, 10) + "-999999999", 400, false}, // future
			{"abc", 400, false},                                // garbage
			{"18446744073709551616-1", 400, false},             // overflow
			{strings.Repeat("9", 60), 400, false},              // too long
			{"1-1", 200, true},                                 // another epoch: a gap
			{strconv.FormatUint(epoch, 10) + "-1", 200, false}, // old: replay
			{"0-0", 400, false},                                // the zero id
		}
		for _, c := range cases {
			conn, status, err := rawSSE(ctx, tg.addr, "channel=honest", "Last-Event-ID: "+c.id+"\r\n", 0)
			if err != nil {
				t.Fatalf("SSE resume from %q: %v", c.id, err)
			}
			conn.Close()
			if status != c.status {
				t.Errorf("SSE resume from %q: status %d, want %d", c.id, status, c.status)
			}
			if c.gap && !sseUntil(ctx, tg.url+"/rt/sse?channel=honest", c.id, 5*time.Second, "event: duet.gap") {
				t.Errorf("SSE resume from %q: no gap notice (event: duet.gap)", c.id)
			}
			ws, _, err := dialRawWS(ctx, tg.addr, 0)
			if err != nil || ws == nil {
				t.Fatal(err)
			}
			_ = ws.writeFrame(opText, []byte(`{"type":"subscribe","ref":"r","channels":["honest"],"lastEventId":`+strconv.Quote(c.id)+`}`))
			want := `"code":4424`
			if c.status == 200 {
				want = `"type":"subscribed"`
			}
			wants := []string{want}
			if c.gap {
				wants = append(wants, `"type":"gap"`)
			}
			if missing := ws.readAll(5*time.Second, wants...); len(missing) > 0 {
				t.Errorf("WS resume from %q: no %q", c.id, missing)
			}
			ws.conn.Close()
		}
		tg.waitConnections(t, "after forged ids", honestConns, waitTimeout)
		row("forged resume ids | %d ids (future, garbage, overflowing, too long, zero, other epoch, old) on both wires | future and malformed refused with 4424; other epoch answered with a gap notice", 2*len(cases))
	})

	t.Run("subscribe storm", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var frames, acks, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				ws, _, err := dialRawWS(ctx, storm.addr, 0)
				if err != nil || ws == nil {
					t.Errorf("storm conn: %v", err)
					return
				}
				defer ws.conn.Close()
				// Each round ends with a ping and waits for its pong, which
				// says every frame of the round was handled: a client that
				// floods without waiting is another adversary (its pongs
				// queue behind its frames, and the heartbeat cuts it).
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				for round := range 100 {
					var names, pubs []string
					for range 16 {
						name := strconv.Quote("storm-" + strconv.FormatUint(rng.Uint64(), 36))
						names = append(names, name)
						pubs = append(pubs, `{"type":"publish","ref":"p","channel":`+name+`,"data":1}`)
					}
					list := strings.Join(names, ",")
					batch := `{"type":"subscribe","channels":[` + list + `]}` + "\n" + strings.Join(pubs, "\n") + "\n" + `{"type":"unsubscribe","channels":[` + list + `]}` +
						"\n" + `{"type":"ping","ref":"round"}`
					if err := ws.writeFrame(opText, []byte(batch)); err != nil {
						t.Errorf("storm conn %d, round %d: %v", i, round, err)
						return
					}
					frames.Add(34)
					a, e, ended := ws.replies(waitTimeout, `"ref":"round"`)
					acks.Add(int64(a))
					refused.Add(int64(e))
					if ended != "" {
						t.Errorf("storm conn %d, round %d: %s", i, round, ended)
						return
					}
				}
			})
		}
		wg.Wait()
		storm.waitConnections(t, "after the storm", 0, waitTimeout)
		tracked, forgotten := tg.broker.TrackedChannels()
		if tracked > 500 {
			t.Errorf("the broker tracks %d channels after the storm, bound 500", tracked)
		}
		// Every publish reached the broker and was acknowledged.
		if acks.Load() != 40*100*16 || refused.Load() != 0 {
			t.Errorf("subscribe storm: %d of %d publishes acknowledged, %d error frames", acks.Load(), 40*100*16, refused.Load())
		}
		row("subscribe storm | 40 connections × 100 rounds of subscribe 16 random channels, publish to each, unsubscribe, ping (%d frames, 64000 channel names) | %d publishes acknowledged, %d refused; %d channel records kept (bound 500), %d forgotten; %d KiB of history retained",
			frames.Load(), acks.Load(), refused.Load(), tracked, forgotten, tg.broker.HistoryBytes()>>10)
	})

	t.Run("publish storm", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		pad := strings.Repeat("y", 12<<10)
		var acked, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				ws, _, err := dialRawWS(ctx, storm.addr, 0)
				if err != nil || ws == nil {
					t.Errorf("publish storm conn: %v", err)
					return
				}
				defer ws.conn.Close()
				// Rounds of 20 publishes, each ended by a ping whose pong
				// says the round was handled (see the subscribe storm).
				rng := rand.New(rand.NewPCG(uint64(i), 9))
				for round := range 20 {
					for range 20 {
						ch := "pub-" + strconv.FormatUint(rng.Uint64()%5000, 36)
						if err := ws.writeFrame(opText, []byte(`{"type":"publish","ref":"p","channel":"`+ch+`","data":"`+pad+`"}`)); err != nil {
							t.Errorf("publish storm conn %d, round %d: %v", i, round, err)
							return
						}
					}
					_ = ws.writeFrame(opText, []byte(`{"type":"ping","ref":"round"}`))
					a, e, ended := ws.replies(waitTimeout, `"ref":"round"`)
					acked.Add(int64(a))
					refused.Add(int64(e))
					if ended != "" {
						t.Errorf("publish storm conn %d, round %d: %s", i, round, ended)
						return
					}
				}
			})
		}
		wg.Wait()
		storm.waitConnections(t, "after the publish storm", 0, waitTimeout)
		held := tg.broker.HistoryBytes()
		if held > 8<<20 {
			t.Errorf("history holds %d bytes after the storm, bound %d", held, 8<<20)
		}
		// Every publish was stored and acknowledged: 46 MiB went through a
		// history bounded at 8 MiB.
		if acked.Load() != 10*400 || refused.Load() != 0 {
			t.Errorf("publish storm: %d of %d publishes acknowledged, %d error frames", acked.Load(), 10*400, refused.Load())
		}
		row("publish storm | 10 connections × 400 publishes of 12 KiB to random channels (%d MiB acknowledged, %d refused) | %d KiB of history retained (bound 8 MiB)",
			acked.Load()*12>>10, refused.Load(), held>>10)
	})

	// Every adversary is gone: the honest clients must have everything.
	stopPub()
	<-pubDone
	last := int(published.Load())
	for _, h := range honestOnes {
		h.waitFor(t, last, waitTimeout)
	}
	stopHonest()
	for _, h := range honestOnes {
		tl := h.analyze(func(int) bool { return true }, last, nil)
		t.Logf("%s: %v", h.name, tl)
		if tl.lost+tl.lostNoticed+tl.duplicated+tl.reordered+tl.gaps > 0 || len(tl.refused) > 0 {
			t.Errorf("%s: %v; refused: %v; disconnects: %v", h.name, tl, tl.refused, h.disconnectReasons())
		}
		row("honest %s client alongside | %d messages | lost %d, duplicated %d, reordered %d, gaps %d, reconnects %d; latency p50 %v, p99 %v, max %v",
			h.wire, last, tl.lost, tl.duplicated, tl.reordered, tl.gaps, tl.reconnects, tl.p50, tl.p99, tl.max)
	}
	// History is kept by design (bounded by MaxHistoryBytes); beyond it
	// the heap must come back to the baseline, give or take 8 MiB.
	history := uint64(tg.broker.HistoryBytes())
	after := settle(t, "after the adversaries, server still up", base, 10, history+8<<20)
	row("resources | baseline %v | after: %v, of which %d KiB retained history", base, after, history>>10)
	t.Logf("fault suite report:\n%s", strings.Join(report, "\n"))
	_ = before
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// zeros is an endless reader of '0' bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}
