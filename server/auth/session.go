package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
)

// SessionConfig configures [Sessions].
type SessionConfig struct {
	// Keys sign and verify session cookies with HMAC-SHA256: the first
	// signs, every one verifies, so a new key can be put first and an old
	// one kept until its cookies have expired. Each at least 32 bytes.
	// Required.
	Keys [][]byte
	// Cookie is the cookie's name. Defaults to "__Host-duet_session": the
	// __Host- prefix makes browsers accept the cookie only with Secure,
	// Path=/ and no Domain, so a sibling subdomain cannot plant or shadow
	// it. With Insecure or another Path, which that prefix forbids, the
	// default is "duet_session". A name with the __Host- prefix and
	// Insecure or another Path, or the __Secure- prefix and Insecure, is
	// refused by NewSessions.
	Cookie string
	// TTL is how long a session lasts when the identity given to Issue has
	// no Expires. Defaults to 12h.
	TTL time.Duration
	// Path is the cookie's path. Defaults to "/".
	Path string
	// Insecure leaves out the cookie's Secure attribute, for development
	// over plain HTTP on a host other than localhost (browsers accept
	// Secure cookies from http://localhost). Default false.
	Insecure bool
}

// Cookie name prefixes browsers enforce (RFC 6265bis §4.1.3).
const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// Sessions issues and verifies session cookies: the identity (subject,
// expiry, channel patterns, extra claims) in JSON, signed with HMAC-SHA256.
// The cookie is HttpOnly, SameSite=Lax, Secure, host-only and named with
// the __Host- prefix by default; the hub's Origin check (on WebSocket) and
// cross-origin check (on publish) keep other sites from riding on it.
type Sessions struct {
	cfg SessionConfig
}

// sessionVersion is signed along with the payload, so a MAC made for
// another purpose with the same key never verifies as a session.
const sessionVersion = "duet.session.v1."

// NewSessions returns Sessions for cfg, or an error for a missing or short
// key.
func NewSessions(cfg SessionConfig) (*Sessions, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("duet/auth: SessionConfig.Keys is empty: give at least one key of 32 bytes or more")
	}
	for i, k := range cfg.Keys {
		if len(k) < 32 {
			return nil, errors.New("duet/auth: session key " + strconv.Itoa(i) + " is " + strconv.Itoa(len(k)) + " bytes; it must be at least 32")
		}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 12 * time.Hour
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	switch {
	case cfg.Cookie == "" && (cfg.Insecure || cfg.Path != "/"):
		cfg.Cookie = "duet_session"
	case cfg.Cookie == "":
		cfg.Cookie = hostPrefix + "duet_session"
	case strings.HasPrefix(cfg.Cookie, hostPrefix) && (cfg.Insecure || cfg.Path != "/"):
		return nil, errors.New("duet/auth: session cookie " + strconv.Quote(cfg.Cookie) + ": browsers accept a " + hostPrefix + " cookie only with Secure and Path=/: drop Insecure and Path, or the prefix")
	case strings.HasPrefix(cfg.Cookie, securePrefix) && cfg.Insecure:
		return nil, errors.New("duet/auth: session cookie " + strconv.Quote(cfg.Cookie) + ": browsers accept a " + securePrefix + " cookie only with Secure: drop Insecure, or the prefix")
	}
	return &Sessions{cfg: cfg}, nil
}

// sessionPayload is the signed content of a session cookie.
type sessionPayload struct {
	Sub       string         `json:"sub"`
	Exp       int64          `json:"exp"` // Unix seconds
	Subscribe []string       `json:"subscribe,omitempty"`
	Publish   []string       `json:"publish,omitempty"`
	Claims    map[string]any `json:"claims,omitempty"`
}

// Encode returns the signed cookie value for id, which expires at
// id.Expires or after the TTL.
func (s *Sessions) Encode(id server.Identity) (string, error) {
	exp := id.Expires
	if exp.IsZero() {
		exp = time.Now().Add(s.cfg.TTL)
	}
	body, err := json.Marshal(sessionPayload{Sub: id.Subject, Exp: exp.Unix(), Subscribe: id.Subscribe, Publish: id.Publish, Claims: id.Claims})
	if err != nil {
		return "", fmt.Errorf("duet/auth: cannot encode the session: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(s.cfg.Keys[0], payload)), nil
}

func (s *Sessions) mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sessionVersion))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Decode verifies a cookie value and returns its identity. An expired
// session is an error.
func (s *Sessions) Decode(value string) (server.Identity, error) {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return server.Identity{}, errors.New("duet/auth: malformed session cookie")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return server.Identity{}, errors.New("duet/auth: malformed session cookie signature")
	}
	valid := false
	for _, k := range s.cfg.Keys {
		if hmac.Equal(got, s.mac(k, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return server.Identity{}, errors.New("duet/auth: session cookie signature is invalid (signed with another key, or altered)")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return server.Identity{}, errors.New("duet/auth: malformed session cookie payload")
	}
	var p sessionPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return server.Identity{}, fmt.Errorf("duet/auth: malformed session cookie payload: %w", err)
	}
	exp := time.Unix(p.Exp, 0)
	if !time.Now().Before(exp) {
		return server.Identity{}, errors.New("duet/auth: session expired at " + exp.UTC().Format(time.RFC3339) + ": sign in again")
	}
	return server.Identity{Subject: p.Sub, Expires: exp, Subscribe: p.Subscribe, Publish: p.Publish, Claims: p.Claims}, nil
}

// Issue sets the session cookie for id on w: call it once the application
// has checked who the user is.
func (s *Sessions) Issue(w http.ResponseWriter, id server.Identity) error {
	if id.Expires.IsZero() {
		id.Expires = time.Now().Add(s.cfg.TTL)
	}
	v, err := s.Encode(id)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(v, id.Expires))
	return nil
}

// Clear removes the session cookie (signing out).
func (s *Sessions) Clear(w http.ResponseWriter) {
	c := s.cookie("", time.Unix(0, 0))
	c.MaxAge = -1
	http.SetCookie(w, c)
}

func (s *Sessions) cookie(value string, exp time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     s.cfg.Cookie,
		Value:    value,
		Path:     s.cfg.Path,
		Expires:  exp,
		HttpOnly: true,
		Secure:   !s.cfg.Insecure,
		SameSite: http.SameSiteLaxMode,
	}
}

// CookieName is the name of the session cookie.
func (s *Sessions) CookieName() string { return s.cfg.Cookie }

// Authenticate is a server.Config.Authenticate hook: the identity of the
// request's session cookie, or ErrNoCredentials when it has none.
func (s *Sessions) Authenticate(r *http.Request) (server.Identity, error) {
	c, err := r.Cookie(s.cfg.Cookie)
	if err != nil || c.Value == "" {
		return server.Identity{}, ErrNoCredentials
	}
	id, err := s.Decode(c.Value)
	if err != nil {
		return server.Identity{}, shared.NewError(shared.CodeUnauthorized, err.Error())
	}
	return id, nil
}
