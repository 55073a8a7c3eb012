package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/duet-rt/duet/shared"
)

// originPolicy is who may use the endpoints from a page of another origin:
// the CORS origins of /rt/sse and /rt/publish, the cross-origin (CSRF)
// check of POST /rt/publish, and the origins allowed to open WebSockets.
type originPolicy struct {
	corsOrigins map[string]struct{}
	csrf        *http.CrossOriginProtection
	// wsOrigins are the host patterns allowed to open WebSockets
	// cross-origin: Config.OriginPatterns and the hosts of CORSOrigins.
	wsOrigins []string
}

func newOriginPolicy(c *Config) (*originPolicy, error) {
	g := &originPolicy{
		wsOrigins:   slices.Clone(c.OriginPatterns),
		corsOrigins: make(map[string]struct{}),
		csrf:        http.NewCrossOriginProtection(),
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, errors.New("duet/server: CORSOrigins entry " + strconv.Quote(o) + " is not an origin like https://app.example.com")
		}
		origin := u.Scheme + "://" + u.Host
		g.corsOrigins[origin] = struct{}{}
		g.wsOrigins = append(g.wsOrigins, u.Host)
		if err := g.csrf.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("duet/server: CORSOrigins entry %s: %w", strconv.Quote(o), err)
		}
	}
	return g, nil
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
