package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// SSE subscribers over HTTP/2 (-sse-h2): streams multiplexed on shared
// connections, as a browser's EventSources share one HTTP/2 connection per
// origin. The server is Duet started with -h2c (HTTP/2 without TLS, prior
// knowledge), so that what is measured is the cost of a stream, not of TLS.

// h2Conns hands out one HTTP/2 client connection per group of streams
// subscribers.
type h2Conns struct {
	streams int // subscribers per connection

	mu         sync.Mutex // guards transports
	transports map[int]*http.Transport
}

// transport returns the transport, with its one connection, of subscriber i.
func (h *h2Conns) transport(r *loadRun, i int) *http.Transport {
	group := i / h.streams
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.transports[group]; t != nil {
		return t
	}
	if h.transports == nil {
		h.transports = make(map[int]*http.Transport)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	t := &http.Transport{Protocols: p, DialContext: r.dialer(group).DialContext}
	h.transports[group] = t
	return t
}

func (h *h2Conns) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.transports {
		t.CloseIdleConnections()
	}
}

// connectH2 opens s's SSE stream on its group's HTTP/2 connection and waits
// for the first event. It returns the function that reads the stream.
func (r *loadRun) connectH2(ctx context.Context, s *subscriber, rp *resumePoint) (func() error, error) {
	reqCtx, cancel := context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			cancel()
		}
	}()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, "http://"+r.host+r.t.ssePath(s.channel.name, rp), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	slow := time.AfterFunc(15*time.Second, cancel) // the hello must come by then
	defer slow.Stop()
	resp, err := r.h2.transport(r, s.idx).RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("SSE over HTTP/2: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if resp.ProtoMajor != 2 {
		resp.Body.Close()
		return nil, fmt.Errorf("SSE over HTTP/2: the server answered %s (is it started with -h2c?)", resp.Proto)
	}
	s.connMu.Lock()
	s.stream = cancel
	s.connMu.Unlock()
	sr := newSSEReader(bufio.NewReaderSize(resp.Body, readBuf))
	first, err := sr.Next()
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("SSE over HTTP/2: first event: %w", err)
	}
	if !slow.Stop() {
		resp.Body.Close()
		return nil, fmt.Errorf("SSE over HTTP/2: no first event within 15s")
	}
	r.t.connected(first.Data, &s.resume)
	r.observe(s, first.Data, false)
	ok = true
	return func() error {
		defer resp.Body.Close()
		return r.readSSE(s, sr)
	}, nil
}
