package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/tmaxmax/go-sse"
)

// The bare baseline: the least a fan-out server on go-sse and
// coder/websocket can be, with the wire shapes of Duet (the envelope, the
// subscribe/subscribed frames, '\n'-batched WebSocket messages) so the same
// clients read it. No history, resume, validation, limits or metrics beyond
// two gauges. Each subscriber has a queue of 1024 messages (as Duet) and is
// dropped when it overflows; each message is encoded once per publish.

type bareHub struct {
	mu       sync.RWMutex // guards channels
	channels map[string]map[*bareSub]struct{}
	seq      atomic.Int64
}

type bareSub struct {
	q    chan *bareMsg
	once sync.Once
	gone chan struct{} // closed when dropped as too slow
}

type bareMsg struct {
	sse *sse.Message
	ws  []byte
}

const bareQueue = 1024

func (h *bareHub) add(ch string, s *bareSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.channels[ch]
	if m == nil {
		m = make(map[*bareSub]struct{})
		h.channels[ch] = m
	}
	m[s] = struct{}{}
}

func (h *bareHub) remove(ch string, s *bareSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.channels[ch], s)
	if len(h.channels[ch]) == 0 {
		delete(h.channels, ch)
	}
}

func (h *bareHub) publish(ch string, data json.RawMessage) int64 {
	id := h.seq.Add(1)
	env := make([]byte, 0, 64+len(ch)+len(data))
	env = append(env, `{"id":"`...)
	env = strconv.AppendInt(env, id, 10)
	env = append(env, `","channel":`...)
	env = strconv.AppendQuote(env, ch)
	env = append(env, `,"event":"message","data":`...)
	env = append(env, data...)
	env = append(env, `,"ts":`...)
	env = strconv.AppendInt(env, time.Now().UnixMilli(), 10)
	env = append(env, '}')
	m := &bareMsg{sse: &sse.Message{ID: sse.ID(strconv.FormatInt(id, 10)), Type: sse.Type("message")}}
	m.sse.AppendData(string(env))
	m.ws = append([]byte(`{"type":"message",`), env[1:]...)

	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.channels[ch] {
		select {
		case s.q <- m:
		default:
			s.once.Do(func() { close(s.gone) })
		}
	}
	return id
}

func (h *bareHub) handlePublish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Channel == "" || req.Data == nil {
		http.Error(w, `{"code":4400,"message":"bad publish"}`, http.StatusBadRequest)
		return
	}
	id := h.publish(req.Channel, req.Data)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"%d"}`, id)
}

const bareHeartbeat = 15 * time.Second

func (h *bareHub) handleSSE(w http.ResponseWriter, r *http.Request) {
	ch := r.URL.Query().Get("channel")
	sess, err := sse.Upgrade(w, r)
	if err != nil || ch == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s := &bareSub{q: make(chan *bareMsg, bareQueue), gone: make(chan struct{})}
	h.add(ch, s)
	defer h.remove(ch, s)
	hello := &sse.Message{Type: sse.Type("hello")}
	hello.AppendData("{}")
	if sess.Send(hello) != nil || sess.Flush() != nil {
		return
	}
	ping := &sse.Message{}
	ping.AppendComment("ping")
	tick := time.NewTicker(bareHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.gone:
			return
		case <-tick.C:
			if sess.Send(ping) != nil || sess.Flush() != nil {
				return
			}
		case m := <-s.q:
			if sess.Send(m.sse) != nil {
				return
			}
			for more := true; more; {
				select {
				case m := <-s.q:
					if sess.Send(m.sse) != nil {
						return
					}
				default:
					more = false
				}
			}
			if sess.Flush() != nil {
				return
			}
		}
	}
}

func (h *bareHub) handleWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"duet.v1"}, InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	_, first, err := c.Read(ctx)
	if err != nil {
		return
	}
	var sub struct {
		Ref      string   `json:"ref"`
		Channels []string `json:"channels"`
	}
	if json.Unmarshal(first, &sub) != nil || len(sub.Channels) != 1 {
		c.Close(4400, "one subscribe frame with one channel expected")
		return
	}
	s := &bareSub{q: make(chan *bareMsg, bareQueue), gone: make(chan struct{})}
	h.add(sub.Channels[0], s)
	defer h.remove(sub.Channels[0], s)
	ack, _ := json.Marshal(map[string]any{"type": "subscribed", "ref": sub.Ref, "channels": sub.Channels})
	if c.Write(ctx, websocket.MessageText, ack) != nil {
		return
	}
	ctx = c.CloseRead(ctx)
	tick := time.NewTicker(bareHeartbeat)
	defer tick.Stop()
	var batch []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.gone:
			c.Close(4000, "slow consumer")
			return
		case <-tick.C:
			if c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
				return
			}
		case m := <-s.q:
			batch = append(batch[:0], m.ws...)
			for more := true; more; {
				select {
				case m := <-s.q:
					batch = append(batch, '\n')
					batch = append(batch, m.ws...)
				default:
					more = false
				}
			}
			if c.Write(ctx, websocket.MessageText, batch) != nil {
				return
			}
		}
	}
}

func handleBareMetrics(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "go_goroutines %d\n", runtime.NumGoroutine())
}

// newBareHandler serves the bare baseline: POST /publish, GET /sse,
// GET /ws, GET /metrics, GET /healthz.
func newBareHandler() http.Handler {
	h := &bareHub{channels: make(map[string]map[*bareSub]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", h.handlePublish)
	mux.HandleFunc("GET /sse", h.handleSSE)
	mux.HandleFunc("GET /ws", h.handleWS)
	mux.HandleFunc("GET /metrics", handleBareMetrics)
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	return mux
}

// serveBare runs the bare baseline on addr until SIGINT or SIGTERM.
func serveBare(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newBareHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
