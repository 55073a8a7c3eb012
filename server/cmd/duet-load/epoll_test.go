package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

// The epoll reader's decoders get a stream in whatever pieces the kernel
// hands over: the same messages must come out of any split.

func sseStream(t *testing.T, n int) []byte {
	t.Helper()
	var body bytes.Buffer
	cw := httputil.NewChunkedWriter(&body)
	write := func(s string) {
		if _, err := cw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("event: duet.hello\ndata: {}\n\n")
	for i := 1; i <= n; i++ {
		ev := "id: " + string(rune('a'+i%26)) + "\r\ndata: " + string(appendPayload(nil, int64(i), 1, 40)) + "\r\n\r\n"
		if i%7 == 0 {
			ev += ":ping\n\n" // a heartbeat inside the chunk
		}
		write(ev)
	}
	cw.Close() // the last chunk
	return body.Bytes()
}

func testRun() (*loadRun, *subscriber) {
	r := &loadRun{t: bareTarget(""), hist: new(shardedHistogram)}
	r.winHi.Store(1 << 62)
	return r, &subscriber{channel: &channelState{name: "c"}}
}

// feedSplit feeds b to feed in random pieces and returns the error that
// ended it.
func feedSplit(rng *rand.Rand, b []byte, feed func([]byte) error) error {
	for len(b) > 0 {
		n := min(1+rng.IntN(40), len(b))
		if err := feed(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func TestSSEDecoderSplits(t *testing.T) {
	stream := sseStream(t, 50)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		r, s := testRun()
		d := newSSEDecoder(r, s, true)
		err := feedSplit(rng, stream, func(p []byte) error { return d.feed(nil, p) })
		if !errors.Is(err, io.EOF) {
			t.Fatalf("seed %d: the last chunk ended the stream with %v, want io.EOF", seed, err)
		}
		select {
		case <-d.ready:
		default:
			t.Fatalf("seed %d: not ready after the hello", seed)
		}
		if got := s.delivered.Load(); got != 50 || s.seq.Last() != 50 || s.seq.Lost(50) != 0 {
			t.Fatalf("seed %d: %d delivered, last seq %d, lost %d; want 50, 50, 0", seed, got, s.seq.Last(), s.seq.Lost(50))
		}
		if hb := s.heartbeats.Load(); hb != 7 {
			t.Fatalf("seed %d: %d heartbeats, want 7", seed, hb)
		}
	}
}

func TestSSEDecoderRefusesBadChunks(t *testing.T) {
	for _, in := range []string{"zz\r\nabc", "3\r\nabcXY", "\r\n", strings.Repeat("1", 2000)} {
		r, s := testRun()
		d := newSSEDecoder(r, s, true)
		if err := d.feed(nil, []byte(in)); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%.20q: err %v, want a decoding error", in, err)
		}
	}
}

// serverFrame is an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

func TestWSDecoderSplits(t *testing.T) {
	var stream []byte
	for i := 1; i <= 40; i++ {
		msg := appendPayload(nil, int64(i), 1, 40+i*8) // some over 125 bytes: 16-bit lengths
		if i%5 == 0 {
			stream = append(stream, serverFrame(false, opText, msg[:10])...)
			stream = append(stream, serverFrame(true, opContinuation, msg[10:])...)
			continue
		}
		stream = append(stream, serverFrame(true, opText, msg)...)
	}
	stream = append(stream, serverFrame(true, opText, appendPayload(nil, 41, 1, 70_000))...) // a 64-bit length
	stream = append(stream, serverFrame(true, opClose, []byte{0x0F, 0xA0, 'b', 'y', 'e'})...)

	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 2))
		r, s := testRun()
		d := &wsDecoder{r: r, s: s}
		pc := &pushConn{fd: -1}
		err := feedSplit(rng, stream, func(p []byte) error { return d.feed(pc, p) })
		if !errors.Is(err, errWSClosed) || !strings.Contains(err.Error(), "4000") {
			t.Fatalf("seed %d: ended with %v, want the close frame's 4000", seed, err)
		}
		if got := s.delivered.Load(); got != 41 || s.seq.Last() != 41 || s.seq.Lost(41) != 0 {
			t.Fatalf("seed %d: %d delivered, last seq %d, lost %d; want 41, 41, 0", seed, got, s.seq.Last(), s.seq.Lost(41))
		}
	}
}

// TestEpollReaderPings: a ping read by a poller is answered with a masked
// pong on the same socket, and a shut-down stream ends its reader.
func TestEpollReaderPings(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	ps, err := newPollers(1)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close()
	r, s := testRun()
	wait, err := ps.readWS(r, s, client, serverFrame(true, opText, appendPayload(nil, 1, 1, 30)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(serverFrame(true, opPing, []byte("hi"))); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	pong := make([]byte, 2+4+2)
	if _, err := io.ReadFull(server, pong); err != nil {
		t.Fatalf("no pong: %v", err)
	}
	if pong[0] != 0x80|opPong || pong[1] != 0x80|2 {
		t.Fatalf("pong header % x", pong[:2])
	}
	if got := []byte{pong[6] ^ pong[2], pong[7] ^ pong[3]}; string(got) != "hi" {
		t.Fatalf("pong payload %q, want hi", got)
	}
	if s.delivered.Load() != 1 || s.heartbeats.Load() != 1 {
		t.Fatalf("%d delivered, %d heartbeats; want the message read ahead, and the ping", s.delivered.Load(), s.heartbeats.Load())
	}
	s.closeConn()
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the stream ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("closeConn did not end the stream")
	}
}
