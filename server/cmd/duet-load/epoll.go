package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The epoll reader (-reader epoll, the default): a few goroutines
// read every subscriber's stream with epoll and plain read system calls.
// Through Go's netpoller a stream costs two reads per server write (the
// read, then one that finds nothing and parks the goroutine) and a
// goroutine wake-up; here it costs one read each time epoll reports it
// readable, and one epoll_wait serves every connection that is. Pinned, the
// generator has one core for thousands of streams: what it costs per
// delivery decides whether the server or the generator is the limit.
//
// A connection is handed over after its handshake (SSE: the response head;
// WebSocket: the upgrade and the subscription): its descriptor is
// duplicated, the net.Conn closed (which takes it out of Go's netpoller),
// and the bytes its bufio.Reader had read ahead are decoded first.

// pollGather is how long a loop that found work waits before it looks
// again, so that one epoll_wait returns many streams instead of one or two
// (without it: 1.6 per wait at 100k deliveries/s). It delays when a message
// is read, and so its measured latency, by at most this much.
const pollGather = 200 * time.Microsecond

// pollers spreads connections over one epoll loop per generator CPU.
type pollers struct {
	loops []*poller
	next  atomic.Uint64
}

// newPollers starts n epoll loops.
func newPollers(n int) (*pollers, error) {
	ps := &pollers{}
	for range max(n, 1) {
		p, err := newPoller()
		if err != nil {
			ps.close()
			return nil, err
		}
		ps.loops = append(ps.loops, p)
	}
	return ps, nil
}

func (ps *pollers) pick() *poller {
	return ps.loops[ps.next.Add(1)%uint64(len(ps.loops))]
}

// close stops the loops; streams still open are ended with an error.
func (ps *pollers) close() {
	for _, p := range ps.loops {
		p.stop()
	}
}

// poller is one epoll instance and the goroutine that waits on it. The
// epoll descriptor is itself in Go's netpoller (it becomes readable when
// one of its connections is), so the loop parks like any reader instead of
// blocking a thread in epoll_wait.
type poller struct {
	epfd  int
	ep    *os.File
	mu    sync.Mutex // guards conns
	conns map[int32]*pushConn
	done  chan struct{}
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	p := &poller{epfd: fd, ep: os.NewFile(uintptr(fd), "epoll"), conns: make(map[int32]*pushConn), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// decoder takes a stream's bytes as they arrive.
type decoder interface {
	feed(pc *pushConn, b []byte) error
}

// pushConn is one stream read by a poller.
type pushConn struct {
	fd     int
	mu     sync.Mutex // guards closed: once closed, fd may be another stream's
	closed bool
	dec    decoder
	done   chan error // the error that ended the stream
}

// add takes conn over: it duplicates its descriptor, closes it, and reads
// the copy, decoding ahead (the bytes already read past the handshake)
// first. done receives the error that ends the stream.
func (p *poller) add(conn net.Conn, ahead []byte, dec decoder) (*pushConn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		var r uintptr
		var e syscall.Errno
		r, _, e = syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			dupErr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup: %w", dupErr)
	}
	conn.Close() // the copy keeps the socket; Go's netpoller lets go of it
	pc := &pushConn{fd: fd, dec: dec, done: make(chan error, 1)}
	if len(ahead) > 0 {
		if err := dec.feed(pc, ahead); err != nil {
			syscall.Close(fd)
			return nil, err
		}
	}
	p.mu.Lock()
	p.conns[int32(fd)] = pc
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(fd))
		p.mu.Unlock()
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return pc, nil
}

// readSSE hands an SSE stream over once its response head is read from br
// (what br read past it is decoded first) and waits for its first event:
// the subscription is live. It returns what waits for the stream's end.
func (ps *pollers) readSSE(r *loadRun, s *subscriber, conn net.Conn, br *bufio.Reader, chunked bool) (func() error, error) {
	ahead, _ := br.Peek(br.Buffered())
	d := newSSEDecoder(r, s, chunked)
	pc, err := ps.take(s, conn, ahead, d)
	if err != nil {
		return nil, err
	}
	timer := time.AfterFunc(handshakeTimeout, pc.shutdown)
	defer timer.Stop()
	select {
	case <-d.ready:
	case err := <-pc.done:
		return nil, fmt.Errorf("SSE: first event: %w", err)
	}
	return func() error { return <-pc.done }, nil
}

// readWS hands a WebSocket over once its subscription is live; ahead is
// what its reader had read past the last message it returned.
func (ps *pollers) readWS(r *loadRun, s *subscriber, conn net.Conn, ahead []byte) (func() error, error) {
	pc, err := ps.take(s, conn, ahead, &wsDecoder{r: r, s: s})
	if err != nil {
		return nil, err
	}
	return func() error { return <-pc.done }, nil
}

// take gives s's connection to a poller; s.closeConn then ends the stream.
func (ps *pollers) take(s *subscriber, conn net.Conn, ahead []byte, dec decoder) (*pushConn, error) {
	pc, err := ps.pick().add(conn, ahead, dec)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.connMu.Lock()
	s.stream = pc.shutdown
	s.connMu.Unlock()
	return pc, nil
}

// shutdown makes the stream end (its poller sees the end and reports it).
func (pc *pushConn) shutdown() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.closed {
		_ = syscall.Shutdown(pc.fd, syscall.SHUT_RDWR)
	}
}

// write sends b (a WebSocket control frame) on the stream. Only the
// poller's goroutine calls it.
func (pc *pushConn) write(b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(pc.fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			runtime.Gosched() // a full send buffer: control frames are rare and tiny
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// end closes the stream's descriptor and reports err to its reader.
func (p *poller) end(pc *pushConn, err error) {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return
	}
	pc.closed = true
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pc.fd, nil)
	p.mu.Lock()
	delete(p.conns, int32(pc.fd))
	p.mu.Unlock()
	syscall.Close(pc.fd)
	pc.mu.Unlock()
	pc.done <- err
}

func (p *poller) loop() {
	defer close(p.done)
	rc, err := p.ep.SyscallConn()
	if err != nil {
		panic(err) // an *os.File always has one
	}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		var n int
		var werr error
		err := rc.Read(func(uintptr) bool {
			n, werr = syscall.EpollWait(p.epfd, events, 0)
			return n > 0 || (werr != nil && !errors.Is(werr, syscall.EINTR))
		})
		if err == nil {
			err = werr
		}
		if err != nil { // stop closed p.ep
			p.endAll(err)
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			pc := p.conns[ev.Fd]
			p.mu.Unlock()
			if pc == nil {
				continue
			}
			// One read per report: level-triggered, a stream with more
			// left is reported again on the next wait.
			m, err := syscall.Read(pc.fd, buf)
			switch {
			case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
			case err != nil:
				p.end(pc, err)
			case m == 0:
				p.end(pc, io.EOF)
			default:
				if err := pc.dec.feed(pc, buf[:m]); err != nil {
					p.end(pc, err)
				}
			}
		}
		if n < len(events) {
			time.Sleep(pollGather)
		}
	}
}

func (p *poller) endAll(err error) {
	p.mu.Lock()
	var open []*pushConn
	for _, pc := range p.conns {
		open = append(open, pc)
	}
	p.mu.Unlock()
	for _, pc := range open {
		p.end(pc, fmt.Errorf("epoll reader stopped: %w", err))
	}
}

func (p *poller) stop() {
	p.ep.Close()
	<-p.done
}

// sseDecoder decodes a chunked (or, without Transfer-Encoding, plain)
// event stream body and hands its events to the run.
type sseDecoder struct {
	r        *loadRun
	s        *subscriber
	chunked  bool
	left     int  // bytes left in the current chunk
	inSize   bool // reading a chunk-size line
	crlf     int  // bytes of the CRLF after a chunk's data still to skip
	size     []byte
	acc      []byte // body bytes not yet split into lines
	blk      sseBlock
	ready    chan struct{} // closed at the first event: the subscription is live
	live     bool
	finished bool // the last chunk was read
}

func newSSEDecoder(r *loadRun, s *subscriber, chunked bool) *sseDecoder {
	return &sseDecoder{r: r, s: s, chunked: chunked, inSize: chunked, ready: make(chan struct{})}
}

func (d *sseDecoder) feed(_ *pushConn, b []byte) error {
	if !d.chunked {
		d.acc = append(d.acc, b...)
		return d.lines()
	}
	for len(b) > 0 {
		switch {
		case d.finished:
			return io.EOF
		case d.crlf > 0:
			if b[0] != "\r\n"[2-d.crlf] {
				return errors.New("SSE: chunk data not followed by CRLF")
			}
			d.crlf--
			if d.crlf == 0 {
				d.inSize = true
			}
			b = b[1:]
		case d.inSize:
			i := 0
			for i < len(b) && b[i] != '\n' {
				i++
			}
			d.size = append(d.size, b[:i]...)
			if len(d.size) > 1024 {
				return errors.New("SSE: chunk-size line over 1 KiB")
			}
			if i == len(b) {
				return nil
			}
			b = b[i+1:]
			n, err := parseChunkSize(d.size)
			d.size = d.size[:0]
			if err != nil {
				return err
			}
			d.inSize = false
			if n == 0 { // the last chunk: what came before it counts
				d.finished = true
				if err := d.lines(); err != nil {
					return err
				}
				return io.EOF
			}
			d.left = n
		default:
			take := min(d.left, len(b))
			d.acc = append(d.acc, b[:take]...)
			d.left -= take
			b = b[take:]
			if d.left == 0 {
				d.crlf = 2
			}
		}
	}
	return d.lines()
}

// parseChunkSize reads a chunk-size line: hex digits, then optional
// extensions after ';'.
func parseChunkSize(l []byte) (int, error) {
	digits, _, _ := bytes.Cut(l, []byte{';'})
	n, err := strconv.ParseUint(string(bytes.TrimSpace(digits)), 16, 26)
	if err != nil {
		return 0, fmt.Errorf("SSE: bad chunk-size line %q", l)
	}
	return int(n), nil
}

// lines dispatches the complete lines in acc and keeps the rest.
func (d *sseDecoder) lines() error {
	i := 0
	for {
		j := bytes.IndexByte(d.acc[i:], '\n')
		if j < 0 {
			break
		}
		ev, ok := d.blk.line(d.acc[i : i+j+1])
		i += j + 1
		if !ok {
			continue
		}
		switch {
		case !d.live:
			d.r.t.connected(ev.Data, &d.s.resume)
			d.r.observe(d.s, ev.Data, false)
			d.live = true
			close(d.ready)
		case ev.Comment:
			d.s.heartbeats.Add(1)
		default:
			d.r.observe(d.s, ev.Data, true)
		}
	}
	d.acc = d.acc[:copy(d.acc, d.acc[i:])]
	if len(d.acc) > maxSSELine {
		return errSSELineTooLong
	}
	return nil
}

// wsDecoder decodes the server's WebSocket frames once the subscription is
// live: messages go to the run, pings are answered, a close frame ends the
// stream.
type wsDecoder struct {
	r   *loadRun
	s   *subscriber
	raw []byte // an incomplete frame
	msg []byte // a fragmented message being assembled
	out []byte
}

func (d *wsDecoder) feed(pc *pushConn, b []byte) error {
	if len(d.raw) > 0 {
		d.raw = append(d.raw, b...)
		b = d.raw
	}
	for {
		n, err := d.frame(pc, b)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
	}
	if len(d.raw) > 0 {
		d.raw = d.raw[:copy(d.raw, b)] // b is a suffix of raw
	} else {
		d.raw = append(d.raw[:0], b...)
	}
	return nil
}

// frame handles the first frame of b and returns its length, or 0 when b
// does not hold a whole frame yet.
func (d *wsDecoder) frame(pc *pushConn, b []byte) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	fin, op := b[0]&0x80 != 0, b[0]&0x0F
	if b[1]&0x80 != 0 {
		return 0, errors.New("WebSocket: masked frame from the server")
	}
	n, h := uint64(b[1]&0x7F), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if n > maxWSMessage || uint64(len(d.msg))+n > maxWSMessage {
		return 0, fmt.Errorf("WebSocket: message over %d bytes", maxWSMessage)
	}
	if uint64(len(b)-h) < n {
		return 0, nil
	}
	p, size := b[h:h+int(n)], h+int(n)
	switch {
	case op >= opClose:
		if n > 125 {
			return 0, errors.New("WebSocket: control frame over 125 bytes")
		}
		d.s.heartbeats.Add(1)
		switch op {
		case opPing:
			d.out = appendClientFrame(d.out[:0], opPong, p)
			return size, pc.write(d.out)
		case opClose:
			d.out = appendClientFrame(d.out[:0], opClose, p[:min(n, 2)])
			_ = pc.write(d.out)
			code := 1005
			if n >= 2 {
				code = int(binary.BigEndian.Uint16(p[:2]))
			}
			return 0, fmt.Errorf("%w (code %d: %s)", errWSClosed, code, p[min(n, 2):])
		}
	case op != opContinuation && op != opText && op != opBinary:
		return 0, fmt.Errorf("WebSocket: unknown opcode %d", op)
	case fin && len(d.msg) == 0:
		d.r.observe(d.s, p, true) // the usual case: one frame, no copy
	default:
		d.msg = append(d.msg, p...)
		if fin {
			d.r.observe(d.s, d.msg, true)
			d.msg = d.msg[:0]
		}
	}
	return size, nil
}
