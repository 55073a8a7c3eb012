// Package faulttest is Duet's fault suite: adversarial clients against a
// running server over real loopback sockets (never-reading clients,
// half-open connections, handshake floods, slowloris headers and bodies,
// oversized and malformed frames, forged resume ids, subscribe storms), and
// crash-restart runs of bin/duet with the in-memory and the NATS broker.
// Each test checks that the server stays up, that an honest client running
// alongside receives every message in order, and that goroutines and memory
// return to their baseline.
//
// The tests run with `go tool task fault` (which sets DUET_FAULT=1); a
// plain `go test ./...` skips them to keep the ordinary suite quick.
//
// The package's one non-test export is [BlackHole], a TCP proxy that can
// stop forwarding without closing anything: what a client behind a dead
// NAT or a pulled cable looks like to the server.
package faulttest
