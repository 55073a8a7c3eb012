package shared

import (
	"errors"
	"strconv"
)

// ID identifies one message. IDs are totally ordered across every channel of
// a server (or of a cluster sharing one stream), so a single ID tells where a
// connection subscribed to many channels stopped reading.
//
// An ID has two parts. Seq is the position in the server's message sequence.
// Epoch names the sequence itself: an in-memory server picks a new epoch
// each time it starts, so an ID issued before a restart is never mistaken for
// a position in the new sequence; it is answered with a gap notice instead.
//
// The text form is "<epoch>-<seq>", both in decimal, e.g. "1764100000000-42".
// Clients must treat it as opaque; only servers parse it.
type ID struct {
	Epoch uint64
	Seq   uint64
}

// MaxIDLength bounds the text form of an ID a peer may send.
const MaxIDLength = 41 // two 20-digit uint64s and the dash

// ErrBadID is wrapped by every error ParseID returns.
var ErrBadID = errors.New("duet/shared: malformed event id")

// ParseID parses the text form of an ID. The empty string is not an ID, nor
// is "0-0": the zero ID stands for "no id".
func ParseID(s string) (ID, error) {
	if len(s) == 0 || len(s) > MaxIDLength {
		return ID{}, badID(s)
	}
	dash := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			if dash >= 0 {
				return ID{}, badID(s)
			}
			dash = i
		case c < '0' || c > '9':
			return ID{}, badID(s)
		}
	}
	if dash <= 0 || dash == len(s)-1 {
		return ID{}, badID(s)
	}
	epoch, err1 := parseDecimal(s[:dash])
	seq, err2 := parseDecimal(s[dash+1:])
	// "0-0" is refused: it would be the zero ID, whose text form is "",
	// a second spelling of "no id" that String does not round-trip.
	if err1 != nil || err2 != nil || epoch == 0 && seq == 0 {
		return ID{}, badID(s)
	}
	return ID{Epoch: epoch, Seq: seq}, nil
}

// parseDecimal parses a canonical decimal uint64: no sign, no leading zeros
// (except "0" itself), so that every ID has exactly one text form.
func parseDecimal(s string) (uint64, error) {
	if len(s) > 1 && s[0] == '0' {
		return 0, ErrBadID
	}
	return strconv.ParseUint(s, 10, 64)
}

func badID(s string) error {
	if len(s) > MaxIDLength {
		s = s[:MaxIDLength] + "…"
	}
	return &idError{text: s}
}

type idError struct{ text string }

func (e *idError) Error() string { return ErrBadID.Error() + " " + strconv.Quote(e.text) }
func (e *idError) Unwrap() error { return ErrBadID }

// MustParseID is ParseID for literals; it panics on a malformed id.
func MustParseID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the text form, or "" for the zero ID.
func (id ID) String() string {
	if id.IsZero() {
		return ""
	}
	return string(id.Append(make([]byte, 0, 24)))
}

// Append appends the text form of id to dst.
func (id ID) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Epoch, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// IsZero reports whether id is the zero ID, which stands for "no id".
func (id ID) IsZero() bool { return id.Epoch == 0 && id.Seq == 0 }

// Compare orders ids by epoch, then by sequence. Only ids of the same epoch
// are positions in one sequence; across epochs the order is arbitrary but
// stable.
func (id ID) Compare(other ID) int {
	switch {
	case id.Epoch < other.Epoch:
		return -1
	case id.Epoch > other.Epoch:
		return 1
	case id.Seq < other.Seq:
		return -1
	case id.Seq > other.Seq:
		return 1
	}
	return 0
}

// Before reports whether id sorts before other in the same epoch.
func (id ID) Before(other ID) bool { return id.Epoch == other.Epoch && id.Seq < other.Seq }
