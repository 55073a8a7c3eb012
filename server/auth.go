package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rt/duet/shared"
)

// Identity is who a request speaks for, as Config.Authenticate found it,
// and what it may do. The hub keeps it for the life of a connection.
type Identity struct {
	// Subject names the user (a JWT's "sub", a session's user id). Empty
	// means anonymous. It replaces "{sub}" in channel patterns, which is
	// how a user gets private channels ("user:{sub}").
	Subject string
	// Expires is when the credentials stop being valid. A connection still
	// open then is closed with 4401 (refresh credentials, reconnect and
	// resume). Zero means never.
	Expires time.Time
	// Subscribe and Publish are the channel patterns the identity may
	// subscribe to and publish on (see MatchChannel). Config.Authorize, when
	// set, decides instead, and may use them or not.
	Subscribe []string
	Publish   []string
	// Claims is what else the credentials said (a JWT's claims, a
	// session's extra fields), for Config.Authorize. Treat it as read-only:
	// it is shared by every check of a connection.
	Claims map[string]any
	// Info is optional JSON listed with the identity's clients in channel
	// presence (a display name, an avatar). Nil lets the client attach its
	// own with the "info" query parameter of /rt/sse and /rt/ws.
	Info []byte
}

// Anonymous is the identity of every request when Config.Authenticate is
// nil: no subject, no expiry, every channel allowed.
func Anonymous() Identity {
	return Identity{Subscribe: []string{"*"}, Publish: []string{"*"}}
}

// Permission is what an identity asks to do with a channel, as
// Config.Authorize and Identity.Allows are asked about it.
type Permission uint8

const (
	// PermissionSubscribe: receive a channel's messages, live or replayed on
	// resume.
	PermissionSubscribe Permission = iota + 1
	// PermissionPublish: publish on a channel, over WebSocket or HTTP POST.
	PermissionPublish
)

func (p Permission) String() string {
	switch p {
	case PermissionSubscribe:
		return "subscribe"
	case PermissionPublish:
		return "publish"
	}
	return "permission(" + strconv.Itoa(int(p)) + ")"
}

// Allows reports whether one of the identity's patterns for perm matches
// channel.
func (id *Identity) Allows(perm Permission, channel string) bool {
	patterns := id.Subscribe
	if perm == PermissionPublish {
		patterns = id.Publish
	}
	for _, p := range patterns {
		if MatchChannel(p, channel, id.Subject) {
			return true
		}
	}
	return false
}

// MatchChannel reports whether channel matches pattern for subject:
//
//   - "*" matches every channel;
//   - a pattern ending in "*" matches the channels that start with the rest
//     ("chat:*" matches "chat:lobby");
//   - "{sub}" stands for subject, taken literally, as one whole segment of
//     the name ("user:{sub}" is the private channel of each user;
//     "user:{sub}:*" all of them). It must be followed by the end of the
//     pattern, a separator (":" or "/"), or the final "*", which then
//     matches the end of the channel or a separator and what follows
//     ("user:{sub}*" matches "user:alice" and "user:alice:inbox", not
//     "user:alicebob"); else the pattern matches nothing. A pattern with
//     "{sub}" matches nothing for an anonymous identity, nor for a subject
//     holding a separator or a pattern character (":", "/", "*", "{", "}"):
//     subject "a" owns "user:a:*", so a subject "a:b" must own nothing
//     there;
//   - anything else matches itself only.
//
// Only a final "*" is a wildcard, and one that comes from the subject is
// not, so a subject cannot widen its own patterns.
func MatchChannel(pattern, channel, subject string) bool {
	prefix, wild := strings.CutSuffix(pattern, "*")
	// Walk the pattern's "{sub}"s, consuming channel as they expand,
	// rather than build the expanded pattern: this runs on every publish.
	for first := true; ; first = false {
		i := strings.Index(prefix, "{sub}")
		if i < 0 {
			break
		}
		if first && !SubjectFitsPattern(subject) {
			return false
		}
		rest := prefix[i+len("{sub}"):]
		if rest != "" && !isSegmentSeparator(rest[0]) {
			return false
		}
		if !strings.HasPrefix(channel, prefix[:i]) {
			return false
		}
		channel = channel[i:]
		if !strings.HasPrefix(channel, subject) {
			return false
		}
		channel, prefix = channel[len(subject):], rest
		if prefix == "" && channel != "" && !isSegmentSeparator(channel[0]) {
			return false // "{sub}*": the subject must end a segment
		}
	}
	if wild {
		return strings.HasPrefix(channel, prefix)
	}
	return channel == prefix
}

// CheckPattern says what is wrong with a channel pattern that could never
// match as written (see MatchChannel): a "*" that is not the last
// character, a "{sub}" that does not end a segment, a character outside
// the channel alphabet. Configuration that takes patterns calls it, so a
// mistake is refused at startup instead of matching nothing.
func CheckPattern(pattern string) error {
	if pattern == "" {
		return errors.New("duet/server: channel pattern is empty")
	}
	prefix, _ := strings.CutSuffix(pattern, "*")
	parts := strings.Split(prefix, "{sub}")
	for j, part := range parts {
		last := j == len(parts)-1
		if j > 0 && !(last && part == "") && (part == "" || !isSegmentSeparator(part[0])) {
			return errors.New("duet/server: channel pattern " + quote(pattern) + `: "{sub}" must end a segment (be followed by ":", "/", the final "*" or nothing)`)
		}
		if part != "" {
			if err := shared.ValidateChannel(part); err != nil {
				return fmt.Errorf("duet/server: channel pattern %s (only a final \"*\" and \"{sub}\" are special): %w", quote(pattern), err)
			}
		}
	}
	return nil
}

// SubjectFitsPattern reports whether subject may stand for "{sub}" in a
// channel pattern: not empty (anonymous), and free of the segment
// separators ":" and "/" and the pattern characters "*", "{" and "}".
// A subject that does not fit gets no channel from a "{sub}" pattern.
func SubjectFitsPattern(subject string) bool {
	return subject != "" && !strings.ContainsAny(subject, ":/*{}")
}

func isSegmentSeparator(c byte) bool { return c == ':' || c == '/' }

// sseRequestKey marks, in its context, a request the SSE endpoint asks
// Config.Authenticate about.
type sseRequestKey struct{}

// IsSSERequest reports whether Config.Authenticate is being asked about a
// request to the hub's SSE endpoint: the only requests on which a hook
// should accept credentials from the URL (a native EventSource can send
// them no other way). Never a WebSocket handshake or a publish, whatever
// their headers say.
func IsSSERequest(r *http.Request) bool {
	v, _ := r.Context().Value(sseRequestKey{}).(bool)
	return v
}

// authenticate finds the identity of r: Config.Authenticate's, or the
// anonymous one. A failure is a 4401 (or the code the hook chose).
func (h *Hub) authenticate(r *http.Request) (Identity, *shared.Error) {
	if h.cfg.Authenticate == nil {
		return Anonymous(), nil
	}
	id, err := h.cfg.Authenticate(r)
	if err != nil {
		h.metrics.authFailures.Add(1)
		var e *shared.Error
		if errors.As(err, &e) {
			return Identity{}, e
		}
		return Identity{}, shared.NewError(shared.CodeUnauthorized, err.Error())
	}
	if !id.Expires.IsZero() && !time.Now().Before(id.Expires) {
		h.metrics.authFailures.Add(1)
		return Identity{}, shared.NewError(shared.CodeUnauthorized, "credentials expired at "+id.Expires.UTC().Format(time.RFC3339)+": refresh them")
	}
	return id, nil
}

// Check authenticates r and authorizes perm on every one of channels as
// the /rt/ endpoints do (Config.Authenticate, then Config.Authorize or the
// identity's patterns), for an application's own handlers that publish or
// read history on a client's behalf through Hub.Publish or the broker:
// they must not be a way around the hub's rules. The error is a
// *shared.Error (4401, 4403, or the hooks' own code).
func (h *Hub) Check(r *http.Request, perm Permission, channels ...string) (Identity, error) {
	id, aerr := h.authenticate(r)
	if aerr != nil {
		return Identity{}, aerr
	}
	if err := h.authorize(&id, perm, channels...); err != nil {
		return Identity{}, protocolError(err)
	}
	return id, nil
}

// authorize checks that id has perm on every one of channels.
func (h *Hub) authorize(id *Identity, perm Permission, channels ...string) error {
	for _, ch := range channels {
		var err error
		if h.cfg.Authorize != nil {
			err = h.cfg.Authorize(*id, perm, ch)
		} else if !id.Allows(perm, ch) {
			err = shared.NewError(shared.CodeForbidden, denied(id, perm, ch))
		}
		if err != nil {
			h.metrics.forbidden.Add(1)
			var e *shared.Error
			if !errors.As(err, &e) {
				err = shared.NewError(shared.CodeForbidden, denied(id, perm, ch)+": "+err.Error())
			}
			return err
		}
	}
	return nil
}

func denied(id *Identity, perm Permission, channel string) string {
	who := "the anonymous identity"
	if id.Subject != "" {
		who = "identity " + quote(id.Subject)
	}
	msg := who + " may not " + perm.String() + " to channel " + quote(channel)
	hasSub := func(p string) bool { return strings.Contains(p, "{sub}") }
	if id.Subject != "" && !SubjectFitsPattern(id.Subject) &&
		(slices.ContainsFunc(id.Subscribe, hasSub) || slices.ContainsFunc(id.Publish, hasSub)) {
		msg += ` (a subject holding ":", "/", "*", "{" or "}" gets no channel from a "{sub}" pattern)`
	}
	return msg
}

// expireAt ends connection c with errCredentialsExpired when id's
// credentials expire; the returned func cancels that.
func (h *Hub) expireAt(c *conn, id *Identity) (stop func()) {
	if id.Expires.IsZero() {
		return func() {}
	}
	t := time.AfterFunc(time.Until(id.Expires), func() {
		h.metrics.expiries.Add(1)
		c.cancel(errCredentialsExpired)
	})
	return func() { t.Stop() }
}

// connAuth is what a WebSocket connection knows of its client: who it is
// and how fast it may publish and subscribe.
type connAuth struct {
	id  Identity
	pub publisher
	sub publisher // for the subscribe rate limits
}
