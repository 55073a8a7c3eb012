package demo

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
)

// maxBody bounds every request body the demo reads.
const maxBody = 4 << 10

// userCookie names the cookie that identifies a demo user: 128 random bits,
// unguessable, so the user's notification channel is private in practice.
// (A real application authorises subscriptions; the demo has no accounts.)
const userCookie = "duet_demo_user"

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// User returns the demo user's id from the request's cookie, setting a new
// one on w when there is none (or a malformed one).
func (d *Demo) User(w http.ResponseWriter, r *http.Request) string {
	if u := userOf(r); u != "" {
		return u
	}
	id := newID()
	http.SetCookie(w, &http.Cookie{
		Name:     userCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   30 * 24 * 3600,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

// userOf returns the request's user id, or "" when it has no valid cookie.
func userOf(r *http.Request) string {
	if c, err := r.Cookie(userCookie); err == nil && userIDPattern.MatchString(c.Value) {
		return c.Value
	}
	return ""
}

// newID returns 128 random bits, base64url without padding (22 bytes).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewPageID returns a fresh id for one page load, which the page sends as
// the "demo" query parameter of its connections so the lab can find them.
func NewPageID() string { return newID() }

// readJSON decodes a small JSON request body into v. It writes the error
// response and returns false when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the body is over the limit of 4096 bytes")
			return false
		}
		writeError(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not the expected JSON object: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": message}.
func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": "duet/demo: " + message})
}
