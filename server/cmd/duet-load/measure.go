package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// result is what one scenario measured against one target.
type result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Wire     string `json:"wire"`
	scenario

	Connected      int     `json:"connected"`
	ConnectErrors  int     `json:"connectErrors"`
	ConnectSeconds float64 `json:"connectSeconds"`
	StillConnected int     `json:"stillConnectedAtEnd"`
	FirstError     string  `json:"firstError,omitempty"`

	PublishedMsgs    int64   `json:"publishedMessages"`
	PublishErrors    int64   `json:"publishErrors"`
	PublishPerSec    float64 `json:"publishedPerSec"`
	Deliveries       int64   `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	LatencySamples   uint64  `json:"latencySamples"`
	P50ms            float64 `json:"p50ms"`
	P90ms            float64 `json:"p90ms"`
	P99ms            float64 `json:"p99ms"`
	P999ms           float64 `json:"p999ms"`
	MaxMs            float64 `json:"maxMs"`
	Lost             int64   `json:"lost"`
	Duplicated       int64   `json:"duplicated"`
	// RetriedTwice counts second copies of messages the generator
	// published again after a try that got no answer (not counted in
	// Duplicated: the server was asked twice).
	RetriedTwice      int64   `json:"retriedTwice"`
	Reordered         int64   `json:"reordered"`
	Gaps              int64   `json:"gapNotices"`
	Reconnects        int64   `json:"reconnects"`
	Heartbeats        int64   `json:"heartbeatsReceived"`
	ServerRSSBaseKiB  int64   `json:"serverRSSBaselineKiB"`
	ServerRSSKiB      int64   `json:"serverRSSConnectedKiB"`
	ServerRSSPeakKiB  int64   `json:"serverRSSEndKiB"`
	RSSPerConnKiB     float64 `json:"rssPerConnKiB"`
	GoroutinesBase    float64 `json:"goroutinesBaseline"`
	Goroutines        float64 `json:"goroutinesConnected"`
	GoroutinesPerConn float64 `json:"goroutinesPerConn"`
	ServerThreads     int64   `json:"serverThreads"`
	CPUSeconds        float64 `json:"serverCPUSeconds"`
	CPUPerMillion     float64 `json:"serverCPUSecondsPerMillionDeliveries"`
	// UserPerMillion is the user-space share of CPUPerMillion: the server's
	// own code, without the kernel's work for its system calls (which on
	// loopback includes the receiving end's TCP processing).
	UserPerMillion  float64 `json:"serverUserCPUSecondsPerMillionDeliveries,omitempty"`
	GeneratorCPU    float64 `json:"generatorCPUSeconds"`
	ServerCPUPct    float64 `json:"serverCPUPercent"`    // of one core, over the measured time
	GeneratorCPUPct float64 `json:"generatorCPUPercent"` // this process: subscribers and publishers
	// ItemsPerWrite is how many queued items a connection's writer took
	// per pass over the measured time (Duet's duet_queue_depth): messages
	// per write, the lever of -write-delay. 0 for other servers.
	ItemsPerWrite float64 `json:"itemsPerWriterPass,omitempty"`
	// DeliveriesPerWrite is deliveries per write system call of the server
	// process (any server; its writes to publishers count too), and
	// DeliveriesPerRead the same per read system call of this generator:
	// what each side pays in system calls, which is most of the CPU on
	// loopback. 0 where /proc/<pid>/io cannot be read.
	DeliveriesPerWrite float64 `json:"deliveriesPerServerWrite,omitempty"`
	DeliveriesPerRead  float64 `json:"deliveriesPerGeneratorRead,omitempty"`
	Round              int     `json:"round,omitempty"`
	LoadAvg            string  `json:"loadavg"` // the machine's, after the measured time: how noisy it was

	Intervals []interval `json:"intervals,omitempty"`
}

// interval is one line of a soak run.
type interval struct {
	AtSeconds        float64 `json:"atSeconds"`
	Live             int     `json:"live"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	P50ms            float64 `json:"p50ms"`
	P99ms            float64 `json:"p99ms"`
	MissingNow       int64   `json:"missingNow"`
	Reconnects       int64   `json:"reconnects"`
	RSSKiB           int64   `json:"serverRSSKiB"`
	Goroutines       float64 `json:"goroutines"`
}

type options struct {
	dir        string // where child servers' logs and configs go
	connectPar int    // connections opened at once
	srcIPs     int
	coderWS    bool
	h2Streams  int           // SSE over HTTP/2, this many streams per connection (0: HTTP/1.1)
	epoll      bool          // read the streams with the epoll reader
	settle     time.Duration // wait before taking the cost of the connections (0: 2 s, 4 s when idle)
	pin        *pinning      // nil: server and generator share every CPU
	logf       func(format string, args ...any)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// measure runs sc against t: starts the server (unless t.url is set),
// connects, publishes, measures, drains, checks every sequence, stops.
func measure(ctx context.Context, sc scenario, t *target, o options) (res *result, err error) {
	res = &result{Scenario: sc.Name, Target: t.Name, Wire: sc.wire(), scenario: sc}
	var cmd *exec.Cmd
	host := t.url
	if host == "" {
		addr, err := freeAddr()
		if err != nil {
			return res, err
		}
		cmd, err = t.start(ctx, addr, o.dir, o.pin)
		if err != nil {
			return res, err
		}
		defer stopChild(cmd)
		host = addr
	}
	if err := waitHealthy(ctx, "http://"+host, t.healthPath, 20*time.Second); err != nil {
		return res, err
	}
	pid := 0
	if cmd != nil {
		pid = cmd.Process.Pid
	}
	settle := o.settle
	if settle == 0 {
		settle = 2 * time.Second
		if sc.Idle {
			settle = 4 * time.Second
		}
	}
	proc := func() procStats {
		if pid == 0 {
			return procStats{}
		}
		s, _ := readProc(pid)
		return s
	}
	goroutines := func() float64 {
		g, _ := scrapeGauge(ctx, "http://"+host+t.metricsPath, "go_goroutines")
		return g
	}
	sleepCtx(ctx, settle/4)
	res.ServerRSSBaseKiB = proc().RSSKiB
	res.GoroutinesBase = goroutines()

	r := &loadRun{sc: sc, t: t, host: host, hist: new(shardedHistogram), srcIPs: o.srcIPs, coderWS: o.coderWS}
	if o.h2Streams > 0 {
		r.h2 = &h2Conns{streams: o.h2Streams}
		defer r.h2.close()
	}
	if o.epoll {
		if r.pollers, err = newPollers(runtime.GOMAXPROCS(0)); err != nil {
			return res, err
		}
		defer r.pollers.close()
	}
	r.winHi.Store(-1) // nothing counts until the window opens
	for i := range max(sc.Channels, 1) {
		r.chans = append(r.chans, &channelState{name: channelName(i)})
	}
	nSSE := int(float64(sc.Subs)*sc.SSEFraction + 0.5)
	for i := range sc.Subs {
		c := r.chans[i%len(r.chans)]
		// Alternate the wires so every channel has both in a mix.
		s := &subscriber{idx: i, sse: sseAt(i, nSSE, sc.Subs), channel: c}
		s.seq.doubted = c.doubted
		c.subs = append(c.subs, s)
		r.subs = append(r.subs, s)
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(o.connectPar, 1))
	var readyMu sync.Mutex
	var connected, failed int
	var firstErr error
	connStart := time.Now()
	var connWG sync.WaitGroup
	connWG.Add(len(r.subs))
	reconnect := sc.Reconnect > 0
	for _, s := range r.subs {
		sem <- struct{}{}
		if ctx.Err() != nil {
			connWG.Done()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.subscriberLoop(runCtx, s, func(err error) {
				<-sem
				readyMu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					connected++
				}
				readyMu.Unlock()
				connWG.Done()
			}, reconnect)
		}()
	}
	connWG.Wait()
	res.ConnectSeconds = time.Since(connStart).Seconds()
	res.Connected, res.ConnectErrors = connected, failed
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	o.logf("  %s/%s: %d connected, %d failed in %.1fs", sc.Name, t.Name, connected, failed, res.ConnectSeconds)

	shutdown := func() {
		r.stopping.Store(true)
		cancelRun()
		for _, s := range r.subs {
			s.closeConn()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			if res.FirstError == "" {
				res.FirstError = "readers did not stop within 10s"
			}
		}
	}
	if connected == 0 {
		shutdown()
		return res, fmt.Errorf("no connection: %v", firstErr)
	}

	// Let the server settle, then take the cost of the connections.
	sleepCtx(ctx, settle)
	ps := proc()
	res.ServerRSSKiB = ps.RSSKiB
	res.ServerThreads = ps.Threads
	res.Goroutines = goroutines()
	if connected > 0 {
		res.RSSPerConnKiB = float64(res.ServerRSSKiB-res.ServerRSSBaseKiB) / float64(connected)
		res.GoroutinesPerConn = (res.Goroutines - res.GoroutinesBase) / float64(connected)
	}

	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	var pubWG sync.WaitGroup
	if !sc.Idle {
		perChan := float64(sc.Subs) / float64(len(r.chans))
		msgRate := 0.0
		if sc.Rate > 0 {
			msgRate = sc.Rate / perChan
		}
		np := min(max(sc.Publishers, 1), len(r.chans))
		for p := range np {
			var mine []*channelState
			for i := p; i < len(r.chans); i += np {
				mine = append(mine, r.chans[i])
			}
			pubWG.Add(1)
			go func() {
				defer pubWG.Done()
				r.publisher(pubCtx, mine, msgRate/float64(np))
			}()
		}
	}

	sleepCtx(ctx, sc.Warmup)
	depth := func() (sum, n float64) { // one scrape: both from the same moment
		body, err := scrape(ctx, "http://"+host+t.metricsPath)
		if err != nil {
			return 0, 0
		}
		sum, _ = parseGauge(body, "duet_queue_depth_sum")
		n, _ = parseGauge(body, "duet_queue_depth_count")
		return sum, n
	}
	items0, passes0 := depth()
	gen0 := self()
	p0 := proc()
	d0 := r.totalDelivered()
	m0 := r.publishedMsgs.Load()
	t0 := time.Now()
	r.winLo.Store(t0.UnixNano())
	r.winHi.Store(1 << 62)

	if sc.Interval > 0 {
		res.Intervals = r.soakLoop(ctx, sc, proc, goroutines, o)
	} else {
		sleepCtx(ctx, sc.Duration)
	}

	t1 := time.Now()
	r.winHi.Store(t1.UnixNano())
	d1 := r.totalDelivered()
	m1 := r.publishedMsgs.Load()
	p1 := proc()
	gen1 := self()
	if items1, passes1 := depth(); passes1 > passes0 {
		res.ItemsPerWrite = (items1 - items0) / (passes1 - passes0)
	}
	el := t1.Sub(t0).Seconds()
	res.Deliveries = d1 - d0
	res.DeliveriesPerSec = float64(d1-d0) / el
	res.PublishPerSec = float64(m1-m0) / el
	res.CPUSeconds = (p1.CPU - p0.CPU).Seconds()
	res.GeneratorCPU = (gen1.CPU - gen0.CPU).Seconds()
	res.ServerCPUPct = 100 * res.CPUSeconds / el
	res.GeneratorCPUPct = 100 * res.GeneratorCPU / el
	if res.Deliveries > 0 {
		res.CPUPerMillion = res.CPUSeconds / (float64(res.Deliveries) / 1e6)
		res.UserPerMillion = (p1.User - p0.User).Seconds() / (float64(res.Deliveries) / 1e6)
	}
	if w := p1.Writes - p0.Writes; w > 0 {
		res.DeliveriesPerWrite = float64(res.Deliveries) / float64(w)
	}
	if n := gen1.Reads - gen0.Reads; n > 0 {
		res.DeliveriesPerRead = float64(res.Deliveries) / float64(n)
	}
	res.ServerRSSPeakKiB = p1.RSSKiB
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	res.Heartbeats = r.totalHeartbeats()

	stopPub()
	pubWG.Wait()
	res.PublishedMsgs = r.publishedMsgs.Load()
	res.PublishErrors = r.publishErrors.Load()
	r.drain(ctx, 10*time.Second)
	res.StillConnected = r.liveCount()
	shutdown()

	h := r.histogram().Merged()
	res.LatencySamples = h.Count()
	res.P50ms, res.P90ms = ms(h.Quantile(0.5)), ms(h.Quantile(0.9))
	res.P99ms, res.P999ms, res.MaxMs = ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max())
	for _, s := range r.subs {
		if s.err != nil && res.FirstError == "" && !errors.Is(s.err, context.Canceled) {
			res.FirstError = s.err.Error()
		}
		if !s.everLive.Load() {
			continue // never connected: counted in ConnectErrors
		}
		res.Lost += s.seq.Lost(s.channel.published.Load())
		res.Duplicated += s.seq.duplicated
		res.RetriedTwice += s.seq.retried
		res.Reordered += s.seq.reordered
		res.Gaps += s.gaps
		res.Reconnects += s.reconnects.Load()
	}
	return res, nil
}

// sseAt spreads nSSE SSE subscribers evenly among n.
func sseAt(i, nSSE, n int) bool {
	return (i+1)*nSSE/n > i*nSSE/n
}

// drain waits, for at most d, until every live subscriber has seen the last
// message of its channel.
func (r *loadRun) drain(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		behind := false
		for _, s := range r.subs {
			if s.live.Load() && s.last.Load() < s.channel.published.Load() {
				behind = true
				break
			}
		}
		if !behind && r.sc.Reconnect > 0 {
			for _, s := range r.subs {
				if s.everLive.Load() && !s.live.Load() && !s.finished.Load() {
					behind = true // reconnecting
					break
				}
			}
		}
		if !behind {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// soakLoop runs until sc.Duration is over, reconnecting a share of the
// subscribers and reporting a line every interval.
func (r *loadRun) soakLoop(ctx context.Context, sc scenario, proc func() procStats, goroutines func() float64, o options) []interval {
	var out []interval
	// Each line has the percentiles of its interval; the run's result has
	// those of all of them.
	total := new(shardedHistogram)
	defer func() {
		r.histMu.Lock()
		total.merge(r.hist)
		r.hist = total
		r.histMu.Unlock()
	}()
	start := time.Now()
	lastD := r.totalDelivered()
	lastT := start
	for time.Since(start) < sc.Duration && ctx.Err() == nil {
		sleepCtx(ctx, min(sc.Interval, sc.Duration-time.Since(start)))
		r.histMu.Lock()
		h := r.hist
		r.hist = new(shardedHistogram)
		r.histMu.Unlock()
		now := time.Now()
		d := r.totalDelivered()
		m := h.Merged()
		missing := r.sum(func(s *subscriber) int64 { return s.missing.Load() })
		reconnects := r.sum(func(s *subscriber) int64 { return s.reconnects.Load() })
		iv := interval{
			AtSeconds:        now.Sub(start).Seconds(),
			Live:             r.liveCount(),
			DeliveriesPerSec: float64(d-lastD) / now.Sub(lastT).Seconds(),
			P50ms:            ms(m.Quantile(0.5)),
			P99ms:            ms(m.Quantile(0.99)),
			MissingNow:       missing,
			Reconnects:       reconnects,
			RSSKiB:           proc().RSSKiB,
			Goroutines:       goroutines(),
		}
		out = append(out, iv)
		o.logf("  soak %6.0fs  live %6d  %9.0f deliveries/s  p50 %7.2f ms  p99 %7.2f ms  missing %d  reconnects %d  rss %7.1f MiB  goroutines %.0f",
			iv.AtSeconds, iv.Live, iv.DeliveriesPerSec, iv.P50ms, iv.P99ms, iv.MissingNow, iv.Reconnects, float64(iv.RSSKiB)/1024, iv.Goroutines)
		total.merge(h)
		lastD, lastT = d, now
		// Drop a share of the connections; their readers reconnect and resume.
		if sc.Reconnect > 0 && time.Since(start) < sc.Duration {
			k := int(float64(len(r.subs)) * sc.Reconnect)
			for range k {
				s := r.subs[rand.IntN(len(r.subs))]
				s.closeConn()
			}
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// self is what /proc says of this process (zero if it cannot be read).
func self() procStats {
	s, _ := readProc(os.Getpid())
	return s
}
