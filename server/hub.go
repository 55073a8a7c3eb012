package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Hub serves Duet's realtime endpoints over one Broker.
type Hub struct {
	cfg       Config
	broker    Broker
	ownBroker bool
	metrics   metrics
	metricsServer
	rates    *rateLimits // publishes
	subRates *rateLimits // subscribes and SSE requests
	origins  *originPolicy
	limits   *connLimiter
	beats    heartbeats // every connection's heartbeat, from one goroutine
	presence *hubPresence
	// stopControl stops hearing other nodes' control messages.
	stopControl func()

	mu      sync.Mutex       // guards conns and closing
	conns   map[string]*conn // by client id
	closing bool
	idle    *sync.Cond // signalled when conns shrinks
}

// NewHub returns a Hub. It fails only on a configuration it cannot honour.
func NewHub(cfg *Config) (*Hub, error) {
	c := cfg.withDefaults()
	// Validate before making a broker: a refused config must not leave a
	// broker's janitor goroutine running.
	if c.WriteTimeout >= c.Heartbeat*10 {
		return nil, errors.New("duet/server: WriteTimeout must be shorter than ten heartbeats")
	}
	if c.WriteDelay < 0 || c.WriteDelay > time.Second || c.WriteDelay >= c.WriteTimeout {
		return nil, errors.New("duet/server: WriteDelay must be between 0 and 1s, and shorter than WriteTimeout")
	}
	if c.AdminKey != "" && len(c.AdminKey) < minAdminKeyBytes {
		return nil, errors.New("duet/server: AdminKey must be at least 16 bytes")
	}
	origins, err := newOriginPolicy(&c)
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: c, broker: c.Broker, conns: make(map[string]*conn), origins: origins, limits: newConnLimiter(&c)}
	h.rates = newPublishLimits(&c, h.limits)
	h.subRates = newSubscribeLimits(&c, h.limits)
	h.idle = sync.NewCond(&h.mu)
	h.metrics.init()
	if h.broker == nil {
		h.broker = NewMemoryBroker(nil)
		h.ownBroker = true
	}
	h.presence = newHubPresence(&c, h.broker, &h.metrics)
	h.stopControl = h.listenControl()
	return h, nil
}

// Broker returns the hub's broker.
//
// Deprecated: use the hub's own methods (Publish, History, Head), which
// check what they are given and work over any broker; calling the broker
// directly skips the hub's validation, metrics and limits.
func (h *Hub) Broker() Broker { return h.broker }

// Head returns the id of the newest message the hub's broker knows of
// (zero before the first): a page rendered now can resume from it.
func (h *Hub) Head() shared.ID { return h.broker.Head() }

// Handler returns a handler for every Duet endpoint: /rt/sse, /rt/ws,
// /rt/publish, /rt/history, /rt/healthz and /metrics, and the admin API
// under /rt/admin/ when Config.AdminKey is set. Mount it at the root of a mux (or
// mount the individual handlers wherever you like).
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rt/sse", h.SSEHandler())
	mux.Handle("/rt/ws", h.WSHandler())
	mux.Handle("/rt/publish", h.PublishHandler())
	mux.Handle("/rt/history", h.HistoryHandler())
	if h.cfg.AdminKey != "" {
		mux.Handle("/rt/admin/", h.AdminHandler())
	}
	mux.Handle("/rt/healthz", h.HealthHandler())
	mux.Handle("/rt/presence", h.PresenceHandler())
	mux.Handle("/metrics", h.MetricsHandler())
	return mux
}

// Shutdown refuses new connections, tells every client to reconnect
// elsewhere (shared.CodeShutdown) and waits until their connections are
// closed or ctx ends. Then it closes the broker if the hub created it.
// Call it before http.Server.Shutdown, which does not wait for hijacked
// connections (WebSockets, HTTP/1.1 SSE streams) and would wait for the
// SSE streams it still serves (HTTP/2) forever.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	for _, c := range h.conns {
		c.cancel(errShutdown)
	}
	done := make(chan struct{})
	go func() {
		h.mu.Lock()
		for len(h.conns) > 0 {
			h.idle.Wait()
		}
		h.mu.Unlock()
		close(done)
	}()
	h.mu.Unlock()

	h.stopControl()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		// The waiter outlives us until the remaining connections finish;
		// their write deadlines bound how long that takes.
		err = ctx.Err()
	}
	h.presence.close()
	if h.ownBroker {
		if cerr := h.broker.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// HealthHandler answers 200 while the hub and its broker serve, 503 after.
func (h *Hub) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.mu.Lock()
		closing := h.closing
		h.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		if closing {
			writeError(w, shared.NewError(shared.CodeShutdown, "shutting down"))
			return
		}
		if err := h.broker.Healthy(); err != nil {
			writeError(w, shared.NewError(shared.CodeBrokerUnavailable, err.Error()))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","head":"` + h.broker.Head().String() + `"}` + "\n"))
	})
}
