package demo

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Who may use the demo's endpoints, and how fast. Every endpoint that
// publishes or reads a channel on a client's behalf asks Config.Authorize
// first (bin/duet gives it the hub's own check, so the demo is no way
// around the rules of /rt/), and is rate limited per demo user and per
// client address: a new user cookie is free to make, an address is not.

// Allow reports whether r's client may publish on (or, publish false,
// read) channel, by Config.Authorize; nil when it is unset. Package web
// asks it before showing a channel's history.
func (d *Demo) Allow(r *http.Request, channel string, publish bool) error {
	if d.authorize == nil {
		return nil
	}
	return d.authorize(r, channel, publish)
}

// allowed is Allow for the demo's handlers: it writes the refusal (the
// code's HTTP status, 403 for an error without one) and reports whether
// the request may go on.
func (d *Demo) allowed(w http.ResponseWriter, r *http.Request, channel string, publish bool) bool {
	err := d.Allow(r, channel, publish)
	if err == nil {
		return true
	}
	writeError(w, RefusalStatus(err), "refused: "+err.Error())
	return false
}

// RefusalStatus is the HTTP status of an error from Allow: its code's
// when it is a *shared.Error (401, 403, 429…), else 403.
func RefusalStatus(err error) int {
	var e *shared.Error
	if errors.As(err, &e) {
		return e.Code.HTTPStatus()
	}
	return http.StatusForbidden
}

// allowRate takes one request of kind from the buckets of r's demo user
// (if any) and of its address, and reports whether both had one.
func (d *Demo) allowRate(kind string, r *http.Request) bool {
	now := time.Now()
	ok := d.addrLimits.allow(kind+" "+clientAddr(r), now)
	if u := userOf(r); u != "" {
		ok = d.limits.allow(kind+" user "+u, now) && ok
	}
	return ok
}

// clientAddr names r's client for rate limits: the TCP peer's address,
// IPv6 ones by their /64 (what one host is given). Behind a reverse proxy
// every client shares the proxy's.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
