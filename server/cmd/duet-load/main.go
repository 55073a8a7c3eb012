// Command duet-load measures Duet against Centrifugo and a bare go-sse /
// coder/websocket fan-out, side by side, in one run: subscribers over SSE and
// WebSocket from many loopback source addresses, publishers at a fixed rate
// or as fast as the slowest subscriber allows, and for each scenario and
// server the connection time, deliveries/s, publish→receive latency
// percentiles, lost / duplicated / reordered messages, server RSS,
// goroutines, CPU per delivery (user and kernel) and system calls per
// delivery on both sides. It prints a table, writes JSON (-json) and an SVG
// chart (-svg).
//
//	go tool task bench                      # the short default comparison
//	duet-load -scenarios full -json r.json -svg r.svg
//	duet-load -targets duet -n 20000 -sse 0.5 -rate 100000 -duration 30s
//	duet-load -soak 10m -n 4000 -rate 20000 # sustained mixed load, a line per interval
//	duet-load -pin -rounds 3               # each server on one CPU (GOMAXPROCS=1), the generator on the others
//	duet-load -pin -targets duet,duet-wd -write-delay 2ms  # Duet without and with a write delay
//
// Every run is bounded (a duration and a connection cap) and stops by
// itself; the servers it starts are its children and are killed on exit.
// It listens and dials on loopback only.
//
// It is an instrument, not a test: it asserts nothing about speed (the
// issue's targets are reported as ok or MISS), and its own logic is tested
// with go test. It is not a browser benchmark: its clients are minimal
// readers (by default one epoll loop per generator CPU reading every
// stream, epoll.go), so that the servers, not the clients, are what is
// measured.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-bare" {
		if err := serveBare(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "duet-load -serve-bare:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "duet-load:", err)
		os.Exit(1)
	}
}

// maxConns caps the connections of any run.
const maxConns = 100_000

const centrifugoVersion = "v6.9.1"

func run(args []string) error {
	fs := flag.NewFlagSet("duet-load", flag.ContinueOnError)
	targets := fs.String("targets", "duet,centrifugo,bare", "servers to measure, in order: duet, centrifugo, bare, duet-wd (Duet with -write-delay)")
	writeDelay := fs.Duration("write-delay", 2*time.Millisecond, "the -write-delay of the duet-wd target")
	scenarios := fs.String("scenarios", "bench", "preset (bench, full) or a comma list of scenario names; -list shows them")
	list := fs.Bool("list", false, "list the scenarios and exit")
	n := fs.Int("n", 0, "a custom scenario: this many subscribers (replaces -scenarios)")
	sseShare := fs.Float64("sse", 0.5, "custom/soak: share of subscribers on SSE (0: all WebSocket, 1: all SSE)")
	channels := fs.Int("channels", 10, "custom/soak: channels the subscribers are spread over (one each)")
	rate := fs.Float64("rate", 0, "custom/soak: target deliveries/s over all subscribers (messages/s = rate / subscribers per channel); 0 = as fast as the window allows")
	idle := fs.Bool("idle", false, "custom: no publishing, measure the cost of idle connections")
	payload := fs.Int("payload", 110, "payload bytes of each message (JSON with a sequence number and a send timestamp)")
	duration := fs.Duration("duration", 0, "measured time of each scenario (0: the scenario's own)")
	warmup := fs.Duration("warmup", 0, "publishing before measuring (0: the scenario's own)")
	window := fs.Int("window", 256, "messages a channel's publisher may run ahead of its slowest subscriber (below every server's queue)")
	publishers := fs.Int("publishers", 0, "publisher goroutines, each with one keep-alive HTTP connection and its own channels (0: one per channel, at most 16)")
	soak := fs.Duration("soak", 0, "soak mode: sustained mixed load for this long (targets default to duet)")
	soakInterval := fs.Duration("interval", 10*time.Second, "soak: report interval")
	soakReconnect := fs.Float64("reconnect", 0.01, "soak: share of subscribers dropped each interval; they reconnect and resume")
	rounds := fs.Int("rounds", 1, "run each scenario this many times, the servers interleaved, and report the median round (losses: the sum of all rounds)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	from := fs.String("from", "", "run nothing: read the JSON of an earlier run and write its table, -md and -svg")
	mdOut := fs.String("md", "", "write the results as a Markdown table to this file")
	svgOut := fs.String("svg", "", "write a chart of the results as SVG to this file")
	readme := fs.String("readme", "", "FILE:NAME: replace the section between <!-- duet-load:NAME --> and <!-- /duet-load:NAME --> of FILE with the results")
	duetBin := fs.String("duet-bin", "bin/duet", "the Duet server binary (go tool task build)")
	duetFlags := fs.String("duet-flags", "", "more flags for bin/duet, e.g. '-write-delay 2ms'")
	duetURL := fs.String("duet-url", "", "measure an already running Duet at host:port instead of starting bin/duet (no /proc figures)")
	centrifugoBin := fs.String("centrifugo-bin", "", "the Centrifugo binary (default: installed "+centrifugoVersion+" in the user cache dir, installed with go install when missing)")
	reader := fs.String("reader", "epoll", "how the subscribers' streams are read: epoll (a few goroutines with epoll and one read system call per readable stream) or netpoll (a goroutine per connection through Go's netpoller: about twice the system calls). SSE over HTTP/2 and -ws-client coder are always read with netpoll")
	wsClient := fs.String("ws-client", "raw", "WebSocket client of the subscribers: raw (a minimal RFC 6455 reader) or coder (coder/websocket), to compare their cost")
	connectPar := fs.Int("connect-concurrency", 200, "connections being opened at once")
	sseH2 := fs.Int("sse-h2", 0, "SSE subscribers over HTTP/2 (h2c: Duet started with -h2c), this many streams per connection as a browser multiplexes its EventSources; 0: HTTP/1.1, a connection each. Duet only")
	srcIPs := fs.Int("source-ips", 64, "loopback source addresses (127.0.0.2 on) to spread connections over, 1-250; each has about 28k ephemeral ports")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile to this file (the server's: -duet-flags '-pprof 127.0.0.1:PORT')")
	pin := fs.Bool("pin", false, "pinned mode: each server under test on its own CPUs (-server-cpus) with GOMAXPROCS to match, this generator on the others")
	serverCPUs := fs.String("server-cpus", "", "pinned mode: the server's CPUs, e.g. 1 or 2-3 (default: the last CPU)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *list {
		for _, sc := range allScenarios() {
			fmt.Printf("%-16s %s\n", sc.Name, describe(sc))
		}
		fmt.Println("presets: bench =", strings.Join(presets["bench"], ","))
		fmt.Println("         full  =", strings.Join(presets["full"], ","))
		return nil
	}

	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		rep := new(report)
		if err := json.Unmarshal(b, rep); err != nil {
			return fmt.Errorf("%s: %w", *from, err)
		}
		if err := rep.write(os.Stdout, "", *mdOut, *svgOut); err != nil || *readme == "" {
			return err
		}
		return spliceReadme(*readme, *svgOut, rep)
	}

	var scs []scenario
	switch {
	case *soak > 0:
		subs := *n
		if subs == 0 {
			subs = 2000
		}
		r := *rate
		if r == 0 {
			r = 20000
		}
		scs = []scenario{{Name: "soak", Subs: subs, SSEFraction: *sseShare, Channels: *channels, Rate: r,
			Payload: *payload, Warmup: 2 * time.Second, Duration: *soak, Window: *window, Publishers: *publishers,
			Reconnect: *soakReconnect, Interval: *soakInterval}}
		if !flagSet(fs, "targets") {
			*targets = "duet"
		}
	case *n > 0:
		sc := scenario{Name: "custom", Subs: *n, SSEFraction: *sseShare, Channels: *channels, Rate: *rate, Idle: *idle,
			Payload: *payload, Warmup: 2 * time.Second, Duration: 10 * time.Second, Window: *window, Publishers: *publishers}
		scs = []scenario{sc}
	default:
		var err error
		if scs, err = pickScenarios(*scenarios); err != nil {
			return err
		}
	}
	for i := range scs {
		sc := &scs[i]
		if *duration > 0 && sc.Interval == 0 {
			sc.Duration = *duration
		}
		if *warmup > 0 {
			sc.Warmup = *warmup
		}
		if sc.Payload == 0 {
			sc.Payload = *payload
		}
		if sc.Window == 0 {
			sc.Window = *window
		}
		if sc.Publishers == 0 {
			sc.Publishers = *publishers
		}
		if sc.Publishers == 0 {
			sc.Publishers = min(sc.Channels, 16)
		}
		if sc.Subs > maxConns {
			return fmt.Errorf("scenario %s: %d subscribers is over the cap of %d", sc.Name, sc.Subs, maxConns)
		}
		if sc.Channels < 1 || sc.Channels > sc.Subs {
			return fmt.Errorf("scenario %s: %d channels for %d subscribers", sc.Name, sc.Channels, sc.Subs)
		}
	}

	if *rounds < 1 || *rounds > 20 {
		return fmt.Errorf("-rounds %d: want 1 to 20", *rounds)
	}
	if *srcIPs < 1 || *srcIPs > 250 {
		return fmt.Errorf("-source-ips %d: want 1 to 250", *srcIPs)
	}
	pn, err := setupPinning(*pin, *serverCPUs)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var ts []*target
	for _, name := range strings.Split(*targets, ",") {
		switch strings.TrimSpace(name) {
		case "duet":
			t := duetTarget(*duetBin)
			t.extraArgs = strings.Fields(*duetFlags)
			if *sseH2 > 0 {
				t.extraArgs = append(t.extraArgs, "-h2c")
			}
			if *duetURL != "" {
				t.url = *duetURL
			} else if _, err := os.Stat(*duetBin); err != nil {
				return fmt.Errorf("no Duet binary at %s (build it with go tool task build, or pass -duet-bin / -duet-url): %w", *duetBin, err)
			}
			ts = append(ts, t)
		case "duet-wd":
			t := duetTarget(*duetBin)
			t.Name = "duet-wd"
			t.extraArgs = append(strings.Fields(*duetFlags), "-write-delay", writeDelay.String())
			if *sseH2 > 0 {
				t.extraArgs = append(t.extraArgs, "-h2c")
			}
			ts = append(ts, t)
		case "centrifugo":
			if *sseH2 > 0 {
				return errors.New("-sse-h2 measures duet only")
			}
			bin, err := ensureCentrifugo(ctx, *centrifugoBin)
			if err != nil {
				return err
			}
			ts = append(ts, centrifugoTarget(bin))
		case "bare":
			if *sseH2 > 0 {
				return errors.New("-sse-h2 measures duet only")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ts = append(ts, bareTarget(self))
		default:
			return fmt.Errorf("unknown target %q (want duet, centrifugo, bare or duet-wd)", name)
		}
	}

	// Each connection is a descriptor here and one in the server, which
	// inherits the limit.
	limit := raiseFileLimit(1 << 20)
	dir, err := os.MkdirTemp("", "duet-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *reader != "epoll" && *reader != "netpoll" {
		return fmt.Errorf("-reader %q: want epoll or netpoll", *reader)
	}
	if *wsClient != "raw" && *wsClient != "coder" {
		return fmt.Errorf("-ws-client %q: want raw or coder", *wsClient)
	}
	if *sseH2 < 0 || *sseH2 > 250 {
		return fmt.Errorf("-sse-h2 %d: want 0 to 250 (Go's server allows 250 streams per connection)", *sseH2)
	}
	if *sseH2 > 0 {
		for i := range scs {
			scs[i].Name += "-h2"
		}
	}
	o := options{dir: dir, connectPar: *connectPar, srcIPs: *srcIPs, coderWS: *wsClient == "coder", h2Streams: *sseH2, epoll: *reader == "epoll", pin: pn,
		logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}

	rep := &report{
		Machine: machineInfo(),
		Command: "duet-load " + strings.Join(args, " "),
		Started: time.Now().UTC().Format(time.RFC3339),
		Reader:  *reader,
	}
	if pn != nil {
		rep.Pinned, rep.GeneratorCPUs = pn.text, pn.genN
	}
	for _, sc := range scs {
		sc = pn.capRate(sc, rep.Results)
		fmt.Fprintf(os.Stderr, "%s: %s\n", sc.Name, describe(sc))
		if need := uint64(sc.Subs) + 1000; limit < need {
			why := fmt.Sprintf("skipped: RLIMIT_NOFILE is %d here, %d needed (raising the hard limit needs root with CAP_SYS_RESOURCE)", limit, need)
			fmt.Fprintln(os.Stderr, "  "+why)
			for _, t := range ts {
				rep.Results = append(rep.Results, &result{Scenario: sc.Name, Target: t.Name, Wire: sc.wire(), scenario: sc, FirstError: why})
			}
			continue
		}
		// Rounds interleave the servers, so a burst of noise from a
		// neighbour on the machine hits one round, not one server.
		perTarget := make([][]*result, len(ts))
		for round := 1; round <= *rounds; round++ {
			for i, t := range ts {
				if ctx.Err() != nil {
					break
				}
				sct := sc
				if !t.canResume {
					sct.Reconnect = 0
				}
				res, err := measure(ctx, sct, t, o)
				if err != nil {
					res.FirstError = err.Error()
					fmt.Fprintf(os.Stderr, "  %s/%s: %v\n", sc.Name, t.Name, err)
					if b, rerr := os.ReadFile(filepath.Join(dir, t.Name+".log")); rerr == nil && len(b) > 0 {
						fmt.Fprintf(os.Stderr, "  server log:\n%s\n", tail(b, 2000))
					}
				}
				if *rounds > 1 {
					res.Round = round
					rep.Rounds = append(rep.Rounds, res)
				}
				perTarget[i] = append(perTarget[i], res)
				fmt.Fprintf(os.Stderr, "  %s\n", oneLine(res))
			}
		}
		for _, rs := range perTarget {
			if len(rs) > 0 {
				rep.Results = append(rep.Results, median(rs))
			}
		}
	}
	rep.Finished = time.Now().UTC().Format(time.RFC3339)
	rep.computeRatios()
	rep.computeChecks()
	if err := rep.write(os.Stdout, *jsonOut, *mdOut, *svgOut); err != nil {
		return err
	}
	if *readme != "" && ctx.Err() == nil {
		if err := spliceReadme(*readme, *svgOut, rep); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// write prints the table to w and writes the files whose names are given.
func (r *report) write(w io.Writer, jsonOut, mdOut, svgOut string) error {
	r.writeTable(w)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if mdOut != "" {
		var b strings.Builder
		r.writeMarkdown(&b)
		if err := os.WriteFile(mdOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if svgOut != "" {
		if err := os.WriteFile(svgOut, renderSVG(r), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// ensureCentrifugo returns the Centrifugo binary: bin when given, else the
// cached one, installed from the Go module proxy when missing.
func ensureCentrifugo(ctx context.Context, bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		var err error
		if cache, err = os.UserCacheDir(); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(cache, "duet-load", "centrifugo-"+centrifugoVersion)
	bin = filepath.Join(dir, "centrifugo")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "installing Centrifugo %s into %s (go install, a few minutes the first time)\n", centrifugoVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/centrifugal/centrifugo/v6@"+centrifugoVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install centrifugo %s: %w", centrifugoVersion, err)
	}
	return bin, nil
}

func machineInfo() map[string]any {
	m := map[string]any{"cpus": runtime.NumCPU(), "goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavgAtStart"] = strings.TrimSpace(string(b))
	}
	return m
}

var errUnknownScenario = errors.New("unknown scenario")

func pickScenarios(spec string) ([]scenario, error) {
	names := presets[spec]
	if names == nil {
		names = strings.Split(spec, ",")
	}
	all := allScenarios()
	var out []scenario
	for _, name := range names {
		i := slices.IndexFunc(all, func(s scenario) bool { return s.Name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("%w %q (-list shows them)", errUnknownScenario, name)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
