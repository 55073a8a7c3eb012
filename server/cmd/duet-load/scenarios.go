package main

import (
	"fmt"
	"time"
)

// allScenarios are the named scenarios; presets group them.
func allScenarios() []scenario {
	const w, d = 2 * time.Second, 5 * time.Second
	var out []scenario
	for _, subs := range []int{1000, 5000} {
		for _, wire := range []struct {
			name string
			sse  float64
		}{{"sse", 1}, {"ws", 0}} {
			k := fmt.Sprintf("%dk", subs/1000)
			out = append(out,
				scenario{Name: "fanout-" + k + "-" + wire.name, Subs: subs, SSEFraction: wire.sse, Channels: 10, Warmup: w, Duration: d},
				scenario{Name: "rate-" + k + "-" + wire.name, Subs: subs, SSEFraction: wire.sse, Channels: 10, Rate: 100_000, Warmup: w, Duration: d},
			)
		}
	}
	// One channel of 100: each connection gets every message, thousands a
	// second, the traffic where a write delay can put several in one write.
	for _, wire := range []struct {
		name string
		sse  float64
	}{{"sse", 1}, {"ws", 0}} {
		out = append(out, scenario{Name: "fanout-100-" + wire.name, Subs: 100, SSEFraction: wire.sse, Channels: 1, Warmup: w, Duration: d})
	}
	for _, subs := range []int{5000, 10000} {
		for _, wire := range []struct {
			name string
			sse  float64
		}{{"sse", 1}, {"ws", 0}} {
			out = append(out, scenario{Name: fmt.Sprintf("idle-%dk-%s", subs/1000, wire.name), Subs: subs, SSEFraction: wire.sse,
				Channels: 10, Idle: true, Duration: 2 * time.Second})
		}
	}
	// 50k connections, half on each wire, held for 40 s: longer than two
	// heartbeat intervals of Duet (15 s) and of Centrifugo (25 s).
	// conns-18k is the most a process limited to 20,000 descriptors holds.
	for _, subs := range []int{18_000, 50_000} {
		out = append(out, scenario{Name: fmt.Sprintf("conns-%dk", subs/1000), Subs: subs, SSEFraction: 0.5, Channels: 100, Idle: true, Duration: 40 * time.Second})
	}
	return out
}

var presets = map[string][]string{
	"bench": {"fanout-1k-sse", "fanout-1k-ws", "fanout-5k-sse", "fanout-5k-ws", "rate-5k-sse", "rate-5k-ws", "idle-5k-sse", "idle-5k-ws"},
	"full": {"fanout-1k-sse", "fanout-1k-ws", "fanout-5k-sse", "fanout-5k-ws", "rate-1k-sse", "rate-1k-ws", "rate-5k-sse", "rate-5k-ws",
		"idle-10k-sse", "idle-10k-ws", "conns-18k", "conns-50k"},
}

func describe(sc scenario) string {
	s := fmt.Sprintf("%d subscribers (%s) over %d channels", sc.Subs, wireText(sc), sc.Channels)
	switch {
	case sc.Idle:
		s += fmt.Sprintf(", idle, held %s", sc.Duration)
	case sc.Rate > 0:
		s += fmt.Sprintf(", %.0f deliveries/s (%.0f messages/s), %d-byte payloads, measured %s", sc.Rate, sc.Rate*float64(sc.Channels)/float64(sc.Subs), max(sc.Payload, 0), sc.Duration)
	default:
		s += fmt.Sprintf(", as fast as the slowest subscriber allows (window %d), measured %s", sc.Window, sc.Duration)
	}
	if sc.Reconnect > 0 {
		s += fmt.Sprintf(", %.1f%% reconnecting with resume every %s", sc.Reconnect*100, sc.Interval)
	}
	return s
}

func wireText(sc scenario) string {
	switch sc.wire() {
	case "sse":
		return "SSE"
	case "ws":
		return "WebSocket"
	}
	return fmt.Sprintf("%.0f%% SSE, %.0f%% WebSocket", sc.SSEFraction*100, (1-sc.SSEFraction)*100)
}
