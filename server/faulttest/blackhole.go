package faulttest

import (
	"net"
	"sync"
	"sync/atomic"
)

// BlackHole is a loopback TCP proxy to one target. While it forwards it
// copies bytes both ways; after Swallow it stops reading and forwarding but
// keeps every socket open: what a peer behind a pulled cable or a dead NAT
// looks like. The server sees a half-open connection: nothing answers, and
// its writes succeed until the kernel buffers on the path fill up.
type BlackHole struct {
	ln     net.Listener
	target string
	// swallowing is set once Swallow is called; the pumps check it before
	// every write.
	swallowing atomic.Bool
	stop       chan struct{} // closed by Close: swallowed pumps return

	mu     sync.Mutex // guards conns and closed
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup // the accept loop and every pump
}

// NewBlackHole listens on 127.0.0.1 (a free port) and forwards to target.
func NewBlackHole(target string) (*BlackHole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &BlackHole{ln: ln, target: target, stop: make(chan struct{})}
	b.wg.Go(b.accept)
	return b, nil
}

// Addr is the proxy's address (host:port).
func (b *BlackHole) Addr() string { return b.ln.Addr().String() }

// Swallow stops reading and forwarding on every connection, open and
// future; a chunk read when it is called is dropped.
func (b *BlackHole) Swallow() { b.swallowing.Store(true) }

// Close closes the listener and every connection, and waits for the pumps.
func (b *BlackHole) Close() error {
	b.mu.Lock()
	if !b.closed {
		close(b.stop)
	}
	b.closed = true
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	err := b.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	b.wg.Wait()
	return err
}

func (b *BlackHole) accept() {
	for {
		client, err := b.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", b.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !b.track(client, server) {
			return
		}
		b.wg.Go(func() { b.pump(server, client) })
		b.wg.Go(func() { b.pump(client, server) })
	}
}

// track records a pair of connections; false once the proxy is closed.
func (b *BlackHole) track(cs ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	b.conns = append(b.conns, cs...)
	return true
}

// pump copies src to dst until src fails; a failed side closes its peer,
// as a real path would. Once the proxy swallows, it stops reading and waits
// for Close, leaving both sockets open and their buffers to fill.
func (b *BlackHole) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for !b.swallowing.Load() {
		n, err := src.Read(buf)
		if n > 0 && !b.swallowing.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			_ = dst.Close()
			_ = src.Close()
			return
		}
	}
	<-b.stop
}
