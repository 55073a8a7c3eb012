package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
	"github.com/golang-jwt/jwt/v5"
)

// devTokens returns the handler of GET /dev/token and GET /dev/session,
// which hand a valid token or session cookie to whoever asks: test
// fixtures. They are served to loopback clients only, and refused outright
// with an -addr other machines can reach, unless -dev-tokens-public says
// otherwise. The returned hook authenticates the session cookies, signed
// with the HS256 secret and named as auth.Sessions names them by default
// (__Host-duet_session), with the -jwt-subscribe and -jwt-publish patterns.
func (f *authFlags) devTokens(secret []byte, addr string, log *slog.Logger) (http.Handler, func(*http.Request) (server.Identity, error), error) {
	sessions, err := auth.NewSessions(auth.SessionConfig{Keys: [][]byte{secret}, TTL: f.devTokenTTL})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /dev/token", devTokenHandler(secret, f.audience, f.issuer, f.devTokenTTL))
	mux.Handle("GET /dev/session", devSessionHandler(sessions, splitList(f.subscribe), splitList(f.publish)))
	if f.devTokensPublic {
		log.Warn("duet: -dev-tokens-public: anyone who can reach this server can get a token at /dev/token; never use this in production", "ttl", f.devTokenTTL)
		return mux, sessions.Authenticate, nil
	}
	if !loopbackAddr(addr) {
		return nil, nil, errors.New("-dev-tokens hands a token to whoever asks, and -addr " + addr + " is reachable from other machines: listen on a loopback address (127.0.0.1, [::1], localhost), or add -dev-tokens-public if you mean it")
	}
	log.Warn("duet: -dev-tokens: any local process can get a token at /dev/token; never use this in production", "ttl", f.devTokenTTL)
	return loopbackOnly(mux), sessions.Authenticate, nil
}

// devSessionHandler serves GET /dev/session?sub=NAME: a session cookie for
// NAME (default "dev") with these patterns, for tests of cookie sessions.
func devSessionHandler(sessions *auth.Sessions, subscribe, publish []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			sub = "dev"
		}
		if err := sessions.Issue(w, server.Identity{Subject: sub, Subscribe: subscribe, Publish: publish}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(sessions.CookieName()))
	})
}

// loopbackAddr reports whether a listen address is reachable from this
// machine only: "localhost" or a loopback IP. An empty host (every
// interface) or any other name is not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackOnly serves h to clients on this machine: a loopback TCP peer
// that is not a proxy forwarding someone else (no X-Forwarded-For or
// Forwarded header). Others get 403.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !ip.Unmap().IsLoopback() ||
			r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
			http.Error(w, "/dev/token is served to loopback clients only (bin/duet -dev-tokens-public serves everyone)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// devTokenHandler serves GET /dev/token?sub=NAME: an HS256 token for NAME
// (default "dev") that lives ttl, for tests of token expiry and refresh.
func devTokenHandler(secret []byte, aud, iss string, ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			sub = "dev"
		}
		now := time.Now()
		claims := jwt.MapClaims{"sub": sub, "aud": aud, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
		if iss != "" {
			claims["iss"] = iss
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(tok))
	})
}
