package natsbroker

import (
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared"
)

var subjectCases = []struct {
	channel, subject string
}{
	{"news", "duet.ch.news"},
	{"chat:lobby", "duet.ch.chat:lobby"},
	{"a.b", "duet.ch.a=2Eb"},
	{"=", "duet.ch.=3D"},
	{"a=2Eb", "duet.ch.a=3D2Eb"},
	{"user@example.com/inbox", "duet.ch.user@example=2Ecom/inbox"},
	{"_-.:@/=", "duet.ch._-=2E:@/=3D"},
	{"...", "duet.ch.=2E=2E=2E"},
	{strings.Repeat(".", shared.MaxChannelLength), "duet.ch." + strings.Repeat("=2E", shared.MaxChannelLength)},
}

func TestSubjectFor(t *testing.T) {
	for _, tt := range subjectCases {
		t.Run(tt.channel, func(t *testing.T) {
			if got := subjectFor("duet.ch", tt.channel); got != tt.subject {
				t.Fatalf("subject: want %q, got %q", tt.subject, got)
			}
			if strings.Count(tt.subject, ".") != 2 {
				t.Fatalf("%q is not one token under the prefix", tt.subject)
			}
			got, err := channelOf("duet.ch", tt.subject)
			if err != nil || got != tt.channel {
				t.Fatalf("channel: want %q, got %q, %v", tt.channel, got, err)
			}
		})
	}
}

func TestChannelOfRefuses(t *testing.T) {
	for _, subject := range []string{
		"", "duet.ch", "duet.ch.", "duet.chx.a", "other.ch.a", "duet.ch.a.b",
		"duet.ch.a=", "duet.ch.a=2", "duet.ch.a=2e", "duet.ch.a=41", "duet.ch.a b",
		"duet.ch." + strings.Repeat("a", shared.MaxChannelLength+1),
	} {
		if ch, err := channelOf("duet.ch", subject); err == nil {
			t.Errorf("%q: want an error, got channel %q", subject, ch)
		}
	}
}

func FuzzSubject(f *testing.F) {
	for _, tt := range subjectCases {
		f.Add(tt.channel)
	}
	f.Fuzz(func(t *testing.T, channel string) {
		if shared.ValidateChannel(channel) != nil {
			return
		}
		subject := subjectFor("duet.ch", channel)
		if !validSubject(subject) || strings.Count(subject, ".") != 2 {
			t.Fatalf("%q → %q is not a single-token literal subject", channel, subject)
		}
		got, err := channelOf("duet.ch", subject)
		if err != nil || got != channel {
			t.Fatalf("%q → %q → %q, %v", channel, subject, got, err)
		}
	})
}

func FuzzChannelOf(f *testing.F) {
	for _, tt := range subjectCases {
		f.Add(tt.subject)
	}
	f.Add("duet.ch.a=2")
	f.Fuzz(func(t *testing.T, subject string) {
		channel, err := channelOf("duet.ch", subject)
		if err != nil {
			return
		}
		if shared.ValidateChannel(channel) != nil {
			t.Fatalf("%q decodes to invalid channel %q", subject, channel)
		}
		if back := subjectFor("duet.ch", channel); back != subject {
			t.Fatalf("%q → %q → %q: two subjects for one channel", subject, channel, back)
		}
	})
}
