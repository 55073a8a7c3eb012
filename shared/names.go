package shared

import "strconv"

// Naming rules for channels and event names. They keep names safe to put in
// an SSE "event:" line, a URL query, a log line and a NATS subject without
// escaping.
const (
	MaxChannelLength = 128
	MaxEventLength   = 64
	// ReservedEventPrefix starts the names of the control events Duet sends
	// on an SSE stream ("duet.gap", "duet.close"); applications cannot
	// publish events with it.
	ReservedEventPrefix = "duet."
)

// ValidateChannel returns a *Error with CodeBadChannel unless name is 1–128
// bytes of ASCII letters, digits and "_-.:@/=".
func ValidateChannel(name string) error {
	if len(name) == 0 {
		return NewError(CodeBadChannel, "channel name is empty")
	}
	if len(name) > MaxChannelLength {
		return NewError(CodeBadChannel, "channel name is "+strconv.Itoa(len(name))+" bytes, over the limit of "+strconv.Itoa(MaxChannelLength))
	}
	if i := badNameByte(name); i >= 0 {
		return NewError(CodeBadChannel, "channel name "+strconv.Quote(name)+" has a forbidden character at byte "+strconv.Itoa(i)+" (allowed: letters, digits and _-.:@/=)")
	}
	return nil
}

// ValidateEvent returns a *Error with CodeBadRequest unless name is empty
// (meaning DefaultEvent) or 1–64 bytes of the channel alphabet that does not
// start with ReservedEventPrefix.
func ValidateEvent(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > MaxEventLength {
		return NewError(CodeBadRequest, "event name is "+strconv.Itoa(len(name))+" bytes, over the limit of "+strconv.Itoa(MaxEventLength))
	}
	if i := badNameByte(name); i >= 0 {
		return NewError(CodeBadRequest, "event name "+strconv.Quote(name)+" has a forbidden character at byte "+strconv.Itoa(i)+" (allowed: letters, digits and _-.:@/=)")
	}
	if len(name) >= len(ReservedEventPrefix) && name[:len(ReservedEventPrefix)] == ReservedEventPrefix {
		return NewError(CodeBadRequest, "event names starting with "+strconv.Quote(ReservedEventPrefix)+" are reserved")
	}
	return nil
}

func badNameByte(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == ':' || c == '@' || c == '/' || c == '=':
		default:
			return i
		}
	}
	return -1
}
