package natsbroker

import (
	"errors"
	"strings"

	"github.com/duet-rt/duet/shared"
)

// Channel names allow letters, digits and "_-.:@/=" (shared.ValidateChannel).
// All of these are legal in a NATS subject token except '.', the token
// separator. A channel becomes one token after the subject prefix, with '.'
// written as "=2E" and the escape character '=' itself as "=3D", so that
// "chat:lobby" stays "chat:lobby" (readable in `nats stream view`) and
// "a.b" becomes "a=2Eb". The mapping is reversible and keeps distinct
// channels on distinct subjects.

// errBadSubject is returned for a subject that no channel maps to.
var errBadSubject = errors.New("duet/natsbroker: subject does not name a Duet channel")

// subjectFor returns the subject of channel under prefix (e.g. "duet.ch").
// channel must be valid (shared.ValidateChannel).
func subjectFor(prefix, channel string) string {
	n := 0
	for i := 0; i < len(channel); i++ {
		if c := channel[i]; c == '.' || c == '=' {
			n++
		}
	}
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(channel) + 2*n)
	b.WriteString(prefix)
	b.WriteByte('.')
	for i := 0; i < len(channel); i++ {
		switch c := channel[i]; c {
		case '.':
			b.WriteString("=2E")
		case '=':
			b.WriteString("=3D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// channelOf reverses subjectFor. It fails for a subject outside prefix, one
// with a malformed escape, or one that decodes to an invalid channel name
// (something other than Duet published there).
func channelOf(prefix, subject string) (string, error) {
	if len(subject) <= len(prefix)+1 || subject[:len(prefix)] != prefix || subject[len(prefix)] != '.' {
		return "", errBadSubject
	}
	tok := subject[len(prefix)+1:]
	if strings.IndexByte(tok, '=') < 0 {
		if strings.IndexByte(tok, '.') >= 0 || shared.ValidateChannel(tok) != nil {
			return "", errBadSubject
		}
		return tok, nil
	}
	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.':
			return "", errBadSubject
		case c != '=':
			b.WriteByte(c)
		case i+2 < len(tok) && tok[i+1] == '2' && tok[i+2] == 'E':
			b.WriteByte('.')
			i += 2
		case i+2 < len(tok) && tok[i+1] == '3' && tok[i+2] == 'D':
			b.WriteByte('=')
			i += 2
		default:
			return "", errBadSubject
		}
	}
	name := b.String()
	if shared.ValidateChannel(name) != nil {
		return "", errBadSubject
	}
	return name, nil
}
