package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/duet-rt/duet/shared"
)

// originPolicy is who may use the endpoints from a page of another origin:
// the CORS origins of /rt/sse and /rt/publish, the cross-origin (CSRF)
// check of POST /rt/publish, and the origins allowed to open WebSockets.
type originPolicy struct {
	corsOrigins map[string]struct{}
	csrf        *http.CrossOriginProtection
	// wsOrigins are the origins allowed to open WebSockets cross-origin,
	// in canonical form (see canonicalOrigin): the CORSOrigins.
	wsOrigins map[string]struct{}
	// wsPatterns are Config.OriginPatterns, each a path.Match pattern for a
	// canonical origin ("https://" prepended to those without a scheme).
	wsPatterns []string
	// trusted are the proxies whose X-Forwarded-Proto names the scheme a
	// request came in with.
	trusted []netip.Prefix
}

func newOriginPolicy(c *Config) (*originPolicy, error) {
	g := &originPolicy{
		wsOrigins:   make(map[string]struct{}),
		corsOrigins: make(map[string]struct{}),
		csrf:        http.NewCrossOriginProtection(),
		trusted:     c.TrustedProxies,
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, errors.New("duet/server: CORSOrigins entry " + strconv.Quote(o) + " is not an origin like https://app.example.com")
		}
		origin := u.Scheme + "://" + u.Host
		g.corsOrigins[origin] = struct{}{}
		canon, _ := canonicalOrigin(origin)
		g.wsOrigins[canon] = struct{}{}
		if err := g.csrf.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("duet/server: CORSOrigins entry %s: %w", strconv.Quote(o), err)
		}
	}
	for _, p := range c.OriginPatterns {
		pat := strings.ToLower(p)
		if !strings.Contains(pat, "://") {
			pat = "https://" + pat
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("duet/server: OriginPatterns entry %s: %w", strconv.Quote(p), err)
		}
		g.wsPatterns = append(g.wsPatterns, pat)
	}
	return g, nil
}

// checkWebSocket refuses a WebSocket handshake from a page of an origin
// that is neither this server's nor an allowed one. Cookies ride on
// cross-site handshakes, so this is what stops cross-site WebSocket
// hijacking. An origin is a scheme, a host and a port, and all three are
// compared: allowing https://app.example does not admit a page of
// http://app.example, which anyone on the network path can forge.
//
// Same-origin is the browser's own judgement when it sends Sec-Fetch-Site
// (every current browser does); without it, the Origin is compared with
// the request's scheme (TLS, or a trusted proxy's X-Forwarded-Proto), Host
// and port. A handshake without Origin (not from a browser) passes.
func (g *originPolicy) checkWebSocket(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	canon, ok := canonicalOrigin(origin)
	if !ok {
		return shared.NewError(shared.CodeForbidden, "WebSocket refused: Origin "+quote(origin)+" is not an origin like https://app.example")
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); {
	case site == "same-origin":
		return nil
	case site == "" && canon == g.requestOrigin(r):
		return nil
	}
	if _, ok := g.wsOrigins[canon]; ok {
		return nil
	}
	for _, p := range g.wsPatterns {
		if ok, _ := path.Match(p, canon); ok {
			return nil
		}
	}
	return shared.NewError(shared.CodeForbidden, "WebSocket from origin "+quote(origin)+" refused: it is not this server's origin, and neither CORSOrigins nor OriginPatterns allows it")
}

// requestOrigin is the canonical origin r was sent to: its scheme (https
// over TLS, else a trusted proxy's X-Forwarded-Proto, else http), Host and
// port.
func (g *originPolicy) requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if fwd := r.Header.Get("X-Forwarded-Proto"); fwd != "" && g.trustedPeer(r) {
		// The client-facing proxy's scheme comes first.
		first, _, _ := strings.Cut(fwd, ",")
		scheme = strings.ToLower(strings.TrimSpace(first))
	}
	canon, _ := canonicalOrigin(scheme + "://" + r.Host)
	return canon
}

func (g *originPolicy) trustedPeer(r *http.Request) bool {
	ip := peerAddr(r.RemoteAddr)
	return slices.ContainsFunc(g.trusted, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// canonicalOrigin returns origin as scheme://host[:port], lower case, with
// the scheme's default port left out (the form browsers send), and whether
// origin is one: no path, query, fragment or user.
func canonicalOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host, true
}

// cors adds the CORS headers for an allowed cross-origin request to /rt/sse
// or /rt/publish (methods is what the endpoint serves) and answers its
// preflight. It reports whether it answered. With no CORSOrigins it does
// nothing: a preflight then gets the endpoint's 405.
func (h *Hub) cors(w http.ResponseWriter, r *http.Request, methods string) bool {
	if len(h.origins.corsOrigins) == 0 {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if _, ok := h.origins.corsOrigins[origin]; !ok || origin == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Set("Access-Control-Allow-Credentials", "true")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Methods", methods)
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// checkCrossOrigin refuses a publish posted by a page of another origin
// (cross-site request forgery riding on the user's cookies), unless that
// origin is one of CORSOrigins. Requests without Sec-Fetch-Site and Origin
// (not from a browser) pass.
func (h *Hub) checkCrossOrigin(r *http.Request) error {
	if err := h.origins.csrf.Check(r); err != nil {
		h.metrics.forbidden.Add(1)
		return shared.NewError(shared.CodeForbidden, "cross-origin publish refused (origin "+quote(r.Header.Get("Origin"))+" is not allowed): "+err.Error())
	}
	return nil
}
