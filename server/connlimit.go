package server

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/duet-rt/duet/shared"
)

// Connection limits: how many SSE and WebSocket connections the hub holds
// in all and per client IP. They are checked before a stream starts or a
// WebSocket is upgraded, so a refused client costs one small HTTP answer.

// connLimiter counts open connections in all and per client IP.
type connLimiter struct {
	max, perIP int // ≤ 0: no limit
	trusted    []netip.Prefix
	v6bits     int // Config.IPv6Prefix

	mu    sync.Mutex // guards total and byIP
	total int
	// byIP holds only client address groups (addrGroup) with at least one
	// open connection, so it is bounded by total.
	byIP map[netip.Prefix]int
}

func newConnLimiter(c *Config) *connLimiter {
	return &connLimiter{max: c.MaxConnections, perIP: c.MaxConnectionsPerIP, trusted: c.TrustedProxies, v6bits: c.IPv6Prefix, byIP: make(map[netip.Prefix]int)}
}

// addrGroup is what per-address limits count ip as: an IPv4 address on its
// own, an IPv6 address with the others of its /v6bits prefix — one host
// commonly gets a whole /64, so counting each address apart would let it
// take every connection slot. An invalid address is a group of its own.
func addrGroup(ip netip.Addr, v6bits int) netip.Prefix {
	bits := 32
	if ip.Is6() {
		bits = v6bits
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// clientGroup is the address group (addrGroup) of r's client.
func (l *connLimiter) clientGroup(r *http.Request) netip.Prefix {
	return addrGroup(l.clientIP(r), l.v6bits)
}

// groupString names a group in messages: the address alone for a single
// one.
func groupString(g netip.Prefix) string {
	if g.IsSingleIP() {
		return g.Addr().String()
	}
	return g.String()
}

// acquire counts a connection from r's client, or refuses it: 4503 when the
// hub is full, 4429 when that client holds too many. release must be called
// exactly once after a nil error.
func (l *connLimiter) acquire(r *http.Request) (release func(), err error) {
	ip := l.clientGroup(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, shared.NewError(shared.CodeOverloaded, "the server holds its maximum of "+strconv.Itoa(l.max)+" connections: retry later or on another node")
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return nil, shared.NewError(shared.CodeRateLimited, "too many connections from "+groupString(ip)+": the limit is "+strconv.Itoa(l.perIP)+" per client address")
	}
	l.total++
	l.byIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if n := l.byIP[ip] - 1; n > 0 {
				l.byIP[ip] = n
			} else {
				delete(l.byIP, ip)
			}
		})
	}, nil
}

// clientIP returns the address per-IP limits count r against: the TCP peer,
// or, when the peer is a trusted proxy, the rightmost X-Forwarded-For entry
// that is not itself a trusted proxy. Headers from untrusted peers are
// ignored: anyone can write them.
func (l *connLimiter) clientIP(r *http.Request) netip.Addr {
	ip := peerAddr(r.RemoteAddr)
	if !l.isTrusted(ip) {
		return ip
	}
	hops := r.Header.Values("X-Forwarded-For")
	// Walk right to left: each trusted proxy appended the address it saw.
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ip // a malformed hop: trust nothing left of it
			}
			ip = a.Unmap()
			if !l.isTrusted(ip) {
				return ip
			}
		}
	}
	return ip
}

func (l *connLimiter) isTrusted(ip netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// peerAddr parses an http.Request's RemoteAddr; anything unparsable (a unix
// socket, a test's made-up address) counts as one shared zero address.
func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// admit counts a new SSE or WebSocket connection against the limits, or
// answers the refusal (503 or 429 with a JSON body) and returns false.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, err := h.limits.acquire(r)
	if err != nil {
		h.metrics.badRequests.Add(1)
		if e, _ := err.(*shared.Error); e != nil && e.Code == shared.CodeOverloaded {
			w.Header().Set("Retry-After", "5")
		} else {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, protocolError(err))
		return nil, false
	}
	return release, true
}
