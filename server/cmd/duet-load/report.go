package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// report is the whole run: what ran where, every result, the ratios of Duet
// to the others per scenario, and the targets checked.
type report struct {
	Machine map[string]any `json:"machine"`
	Command string         `json:"command"`
	// Pinned says where the servers and the generator ran in pinned mode;
	// empty when they shared every CPU.
	Pinned        string `json:"pinned,omitempty"`
	GeneratorCPUs int    `json:"generatorCPUs,omitempty"`
	// Reader is how the generator read the streams (-reader); empty in
	// runs from before the epoll reader: netpoll.
	Reader   string    `json:"reader,omitempty"`
	Started  string    `json:"started"`
	Finished string    `json:"finished"`
	Results  []*result `json:"results"` // per scenario and server: the median round
	Rounds   []*result `json:"allRounds,omitempty"`
	Ratios   []ratio   `json:"ratios"`
	Checks   []check   `json:"checks"`
}

// ratio is Duet's figure divided by another server's, in one scenario.
type ratio struct {
	Scenario          string  `json:"scenario"`
	Versus            string  `json:"versus"`
	DeliveriesPerSec  float64 `json:"deliveriesPerSec,omitempty"`
	P99               float64 `json:"p99,omitempty"`
	CPUPerMillion     float64 `json:"cpuPerMillion,omitempty"`
	UserPerMillion    float64 `json:"userCPUPerMillion,omitempty"`
	RSSPerConn        float64 `json:"rssPerConn,omitempty"`
	GoroutinesPerConn float64 `json:"goroutinesPerConn,omitempty"`
	ConnectSeconds    float64 `json:"connectSeconds,omitempty"`
}

// check is one target of issue 7 against this run.
type check struct {
	What   string `json:"what"`
	Target string `json:"target"`
	Got    string `json:"got"`
	Pass   bool   `json:"pass"`
	// Skipped: not measured here (e.g. the descriptor limit); neither pass nor miss.
	Skipped bool `json:"skipped,omitempty"`
}

func (r *report) find(scenario, target string) *result {
	for _, x := range r.Results {
		if x.Scenario == scenario && x.Target == target && x.Connected > 0 {
			return x
		}
	}
	return nil
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *report) scenarios() []string {
	var out []string
	for _, x := range r.Results {
		if len(out) == 0 || out[len(out)-1] != x.Scenario {
			out = append(out, x.Scenario)
		}
	}
	return out
}

func (r *report) computeRatios() {
	r.Ratios = nil
	for _, sc := range r.scenarios() {
		d := r.find(sc, "duet")
		if d == nil {
			continue
		}
		for _, other := range []string{"centrifugo", "bare", "duet-wd"} {
			o := r.find(sc, other)
			if o == nil {
				continue
			}
			r.Ratios = append(r.Ratios, ratio{
				Scenario: sc, Versus: other,
				DeliveriesPerSec:  div(d.DeliveriesPerSec, o.DeliveriesPerSec),
				P99:               div(d.P99ms, o.P99ms),
				CPUPerMillion:     div(d.CPUPerMillion, o.CPUPerMillion),
				UserPerMillion:    div(d.UserPerMillion, o.UserPerMillion),
				RSSPerConn:        div(d.RSSPerConnKiB, o.RSSPerConnKiB),
				GoroutinesPerConn: div(d.GoroutinesPerConn, o.GoroutinesPerConn),
				ConnectSeconds:    div(d.ConnectSeconds, o.ConnectSeconds),
			})
		}
	}
}

func (r *report) ratio(sc, versus string) *ratio {
	for i := range r.Ratios {
		if r.Ratios[i].Scenario == sc && r.Ratios[i].Versus == versus {
			return &r.Ratios[i]
		}
	}
	return nil
}

// computeChecks compares Duet's results with the targets: issue 17's when
// pinned (≥ 2× Centrifugo, ≥ 1.2× bare), issue 7's when not (≥ 1.5×,
// ≥ 0.8×).
func (r *report) computeChecks() {
	r.Checks = nil
	add := func(what, target, got string, pass bool) {
		r.Checks = append(r.Checks, check{What: what, Target: target, Got: got, Pass: pass})
	}
	vsCentrifugo, vsBare := 1.5, 0.8
	if r.Pinned != "" {
		vsCentrifugo, vsBare = 2, 1.2
	}
	for _, x := range r.Results {
		if r.Pinned != "" && !x.Idle && x.Connected > 0 && x.GeneratorCPUPct >= 90*float64(r.GeneratorCPUs) {
			// A saturated generator measures itself, not the server.
			add(x.Scenario+"/"+x.Target+": generator not saturated", fmt.Sprintf("< 90%% of its %d CPU", r.GeneratorCPUs),
				fmt.Sprintf("%.0f%%", x.GeneratorCPUPct), false)
		}
		if r.Pinned != "" && strings.HasPrefix(x.Scenario, "fanout-") && x.Connected > 0 && x.ServerCPUPct < 80 {
			// As fast as possible yet the server's core idles: the
			// machine is busy elsewhere, or the generator is the limit.
			add(x.Scenario+"/"+x.Target+": server core busy", "≥ 80% (else the figure is not the core's)",
				fmt.Sprintf("%.0f%%", x.ServerCPUPct), false)
		}
		if x.Target != "duet" {
			continue
		}
		sc := x.Scenario
		if x.Connected == 0 && strings.HasPrefix(x.FirstError, "skipped") {
			r.Checks = append(r.Checks, check{What: sc, Target: "-", Got: x.FirstError, Skipped: true})
			continue
		}
		if strings.HasPrefix(sc, "fanout-") {
			d := r.find(sc, "duet")
			if c := r.find(sc, "centrifugo"); c != nil {
				rt := r.ratio(sc, "centrifugo")
				add(sc+": deliveries/s vs Centrifugo at ≤ its p99", fmt.Sprintf("≥%.1f×, p99 ≤ Centrifugo's", vsCentrifugo),
					fmt.Sprintf("%.2f×, p99 %.1f vs %.1f ms", rt.DeliveriesPerSec, d.P99ms, c.P99ms),
					rt.DeliveriesPerSec >= vsCentrifugo && d.P99ms <= c.P99ms)
			}
			if r.find(sc, "bare") != nil {
				rt := r.ratio(sc, "bare")
				add(sc+": deliveries/s vs bare", fmt.Sprintf("≥%.1f×", vsBare), fmt.Sprintf("%.2f×", rt.DeliveriesPerSec), rt.DeliveriesPerSec >= vsBare)
			}
		}
		if strings.HasPrefix(sc, "rate-5k-") {
			add(sc+fmt.Sprintf(": p99 at 5k subscribers, %s deliveries/s", short(x.Rate)), "≤50 ms",
				fmt.Sprintf("%.1f ms at %.0f deliveries/s", x.P99ms, x.DeliveriesPerSec), x.P99ms <= 50 && x.DeliveriesPerSec >= 0.95*x.Rate)
		}
		if strings.HasPrefix(sc, "idle-") {
			add(sc+": RSS per idle subscriber", "≤20 KiB", fmt.Sprintf("%.1f KiB", x.RSSPerConnKiB), x.RSSPerConnKiB <= 20 && x.RSSPerConnKiB > 0)
		}
		if strings.HasPrefix(sc, "conns-") {
			add(sc+": connections held with heartbeats", fmt.Sprintf("%d held", x.Subs), fmt.Sprintf("%d connected, %d still at the end, %d heartbeats", x.Connected, x.StillConnected, x.Heartbeats),
				x.StillConnected >= x.Subs && x.Heartbeats > 0)
		}
		add(sc+": lost / duplicated / reordered", "0 / 0 / 0", fmt.Sprintf("%d / %d / %d", x.Lost, x.Duplicated, x.Reordered),
			x.Lost == 0 && x.Duplicated == 0 && x.Reordered == 0 && x.FirstError == "")
	}
}

func oneLine(x *result) string {
	if x.Idle {
		return fmt.Sprintf("%-10s %6d/%d conns in %.1fs, RSS %.1f KiB/conn, %.2f goroutines/conn, %d still connected, %d heartbeats %s",
			x.Target, x.Connected, x.Subs, x.ConnectSeconds, x.RSSPerConnKiB, x.GoroutinesPerConn, x.StillConnected, x.Heartbeats, errText(x))
	}
	perWrite := ""
	if x.ItemsPerWrite > 0 {
		perWrite = fmt.Sprintf("  %.1f items/write", x.ItemsPerWrite)
	}
	if x.DeliveriesPerWrite > 0 {
		perWrite += fmt.Sprintf("  %.2f deliveries/server write", x.DeliveriesPerWrite)
	}
	if x.DeliveriesPerRead > 0 {
		perWrite += fmt.Sprintf("  %.2f deliveries/generator read", x.DeliveriesPerRead)
	}
	return fmt.Sprintf("%-10s %9.0f deliveries/s (%6.0f msgs/s)  p50 %6.2f  p99 %7.2f  p99.9 %7.2f ms  lost %d dup %d reord %d  CPU %.2f s/M (user %.2f)  RSS %.1f KiB/conn  CPU server %.0f%% generator %.0f%%%s %s",
		x.Target, x.DeliveriesPerSec, x.PublishPerSec, x.P50ms, x.P99ms, x.P999ms, x.Lost, x.Duplicated, x.Reordered, x.CPUPerMillion, x.UserPerMillion, x.RSSPerConnKiB,
		x.ServerCPUPct, x.GeneratorCPUPct, perWrite, errText(x))
}

func errText(x *result) string {
	var parts []string
	if x.RetriedTwice > 0 {
		parts = append(parts, fmt.Sprintf("(%d second copies of publishes retried after no answer)", x.RetriedTwice))
	}
	if x.FirstError != "" {
		parts = append(parts, "ERROR: "+x.FirstError)
	}
	return strings.Join(parts, " ")
}

// writeTable prints the results, the ratios and the checks for people.
func (r *report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\tconns\tconnect s\tdeliveries/s\tmsgs/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tlost\tdup\treord\tRSS KiB/conn\tgoroutines/conn\tCPU s/M deliveries\tserver CPU%\tgenerator CPU%\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.0f\t%.0f\t\n",
			x.Scenario, x.Target, x.Connected, x.ConnectSeconds, x.DeliveriesPerSec, x.PublishPerSec,
			x.P50ms, x.P90ms, x.P99ms, x.P999ms, x.Lost, x.Duplicated, x.Reordered,
			x.RSSPerConnKiB, x.GoroutinesPerConn, x.CPUPerMillion, x.ServerCPUPct, x.GeneratorCPUPct)
	}
	tw.Flush()
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\nDuet ÷ other, same scenario, same run (deliveries/s: higher is better; the rest: lower is better)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\tversus\tdeliveries/s\tp99\tCPU/delivery\tuser CPU/delivery\tRSS/conn\tgoroutines/conn\t")
		for _, q := range r.Ratios {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", q.Scenario, q.Versus, rt(q.DeliveriesPerSec), rt(q.P99), rt(q.CPUPerMillion), rt(q.UserPerMillion), rt(q.RSSPerConn), rt(q.GoroutinesPerConn))
		}
		tw.Flush()
	}
	if len(r.Checks) > 0 {
		if r.Pinned != "" {
			fmt.Fprintln(w, "\nIssue 17 targets (Duet, pinned: "+r.Pinned+")")
		} else {
			fmt.Fprintln(w, "\nIssue 7 targets (Duet, unpinned)")
		}
		for _, c := range r.Checks {
			mark := "MISS"
			switch {
			case c.Skipped:
				mark = "skip"
			case c.Pass:
				mark = "ok  "
			}
			fmt.Fprintf(w, "  %s %s: %s (target %s)\n", mark, c.What, c.Got, c.Target)
		}
	}
	for _, x := range r.Results {
		if x.FirstError != "" {
			fmt.Fprintf(w, "\n%s/%s: %s", x.Scenario, x.Target, x.FirstError)
		}
	}
	fmt.Fprintln(w)
}

func rt(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", v)
}

// median picks, among the rounds of one scenario against one server, the
// round with the median figure of merit (deliveries/s, or RSS per connection
// when idle), and adds up the correctness counters of every round: a message
// lost in any round is reported.
func median(rounds []*result) *result {
	if len(rounds) == 1 {
		return rounds[0]
	}
	ok := make([]*result, 0, len(rounds))
	for _, x := range rounds {
		if x.Connected > 0 {
			ok = append(ok, x)
		}
	}
	if len(ok) == 0 {
		return rounds[0]
	}
	key := func(x *result) float64 {
		if x.Idle {
			return x.RSSPerConnKiB
		}
		return x.DeliveriesPerSec
	}
	slices.SortFunc(ok, func(a, b *result) int { return cmp.Compare(key(a), key(b)) })
	m := *ok[len(ok)/2]
	m.Lost, m.Duplicated, m.Reordered, m.Gaps = 0, 0, 0, 0
	for _, x := range rounds {
		m.Lost += x.Lost
		m.Duplicated += x.Duplicated
		m.Reordered += x.Reordered
		m.Gaps += x.Gaps
		if m.FirstError == "" {
			m.FirstError = x.FirstError
		}
	}
	return &m
}

// writeMarkdown prints the results as a Markdown table, with Duet's ratio to
// each other server (deliveries/s for the publishing scenarios, RSS per
// connection for the idle ones), for the README.
func (r *report) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| scenario | server | conns | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost / dup / reord | RSS KiB/conn | goroutines/conn | server CPU s per M deliveries (user) | server / generator CPU % | items per write | deliveries per server write / generator read | Duet ÷ this |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.Results {
		if x.Connected == 0 {
			fmt.Fprintf(w, "| %s | %s | – | %s |  |  |  |  |  |  |  |  |  |  |  |\n", x.Scenario, x.Target, x.FirstError)
			continue
		}
		q := "–"
		if x.Target != "duet" {
			if rt := r.ratio(x.Scenario, x.Target); rt != nil {
				if x.Idle {
					q = fmt.Sprintf("%.2f× RSS/conn", rt.RSSPerConn)
				} else {
					q = fmt.Sprintf("%.2f× deliveries/s, %.2f× p99", rt.DeliveriesPerSec, rt.P99)
				}
			}
		}
		if x.Idle {
			fmt.Fprintf(w, "| %s | %s | %d | idle |  |  |  | %d / %d / %d | %.1f | %.2f |  |  |  |  | %s |\n",
				x.Scenario, x.Target, x.Connected, x.Lost, x.Duplicated, x.Reordered, x.RSSPerConnKiB, x.GoroutinesPerConn, q)
			continue
		}
		perWrite := ""
		if x.ItemsPerWrite > 0 {
			perWrite = fmt.Sprintf("%.1f", x.ItemsPerWrite)
		}
		calls := ""
		if x.DeliveriesPerWrite > 0 && x.DeliveriesPerRead > 0 {
			calls = fmt.Sprintf("%.2f / %.2f", x.DeliveriesPerWrite, x.DeliveriesPerRead)
		}
		cpu := fmt.Sprintf("%.1f", x.CPUPerMillion)
		if x.UserPerMillion > 0 {
			cpu += fmt.Sprintf(" (%.1f)", x.UserPerMillion)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f | %.1f | %.1f | %d / %d / %d | %.1f | %.2f | %s | %.0f / %.0f | %s | %s | %s |\n",
			x.Scenario, x.Target, x.Connected, short(x.DeliveriesPerSec), x.P50ms, x.P99ms, x.P999ms,
			x.Lost, x.Duplicated, x.Reordered, x.RSSPerConnKiB, x.GoroutinesPerConn, cpu, x.ServerCPUPct, x.GeneratorCPUPct, perWrite, calls, q)
	}
}
