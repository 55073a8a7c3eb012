package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Chat limits.
const (
	MaxNickRunes = 24
	MaxTextRunes = 500
	// ChatHistory is how many messages a room shows on join.
	ChatHistory = 50
)

// Rooms are the chat rooms. A fixed list keeps the number of channels the
// demo creates bounded.
var Rooms = []string{"lobby", "go", "random"}

// ChatChannel returns a room's channel.
func ChatChannel(room string) string { return "chat:" + room }

// ChatMessage is one chat line, the data of a "chat" event.
type ChatMessage struct {
	ID   string `json:"-"`
	Nick string `json:"nick"`
	Text string `json:"text"`
	TS   int64  `json:"-"`
}

// ChatRoom is what a room's page shows on first paint.
type ChatRoom struct {
	Room     string
	Channel  string
	Messages []ChatMessage
	// ResumeAfter is the id the page's connection resumes after, so that
	// it gets every later message exactly once.
	ResumeAfter string
}

// ValidRoom reports whether room is one of Rooms.
func ValidRoom(room string) bool { return slices.Contains(Rooms, room) }

// ChatRoom reads a room's recent history.
func (d *Demo) ChatRoom(ctx context.Context, room string) (ChatRoom, error) {
	ch := ChatChannel(room)
	msgs, after, err := d.hub.History(ctx, ch, ChatHistory)
	if err != nil {
		return ChatRoom{}, err
	}
	cr := ChatRoom{Room: room, Channel: ch, ResumeAfter: after}
	for _, m := range msgs {
		var cm ChatMessage
		// Anyone may publish to the channel through /rt/publish: show only
		// what parses as a chat line, cleaned like one sent through the demo.
		if m.Event != "chat" || json.Unmarshal(m.Data, &cm) != nil {
			continue
		}
		nick, text, ok := cleanChat(cm.Nick, cm.Text)
		if !ok {
			continue
		}
		cr.Messages = append(cr.Messages, ChatMessage{ID: m.ID, Nick: nick, Text: text, TS: m.TS})
	}
	return cr, nil
}

// cleanChat trims nick and text, removes control characters, and reports
// whether both are within limits and not empty.
func cleanChat(nick, text string) (string, string, bool) {
	nick = strings.TrimSpace(strings.Map(dropControl, nick))
	text = strings.TrimSpace(strings.Map(dropControl, text))
	n, t := utf8.RuneCountInString(nick), utf8.RuneCountInString(text)
	return nick, text, n > 0 && n <= MaxNickRunes && t > 0 && t <= MaxTextRunes &&
		utf8.ValidString(nick) && utf8.ValidString(text)
}

func dropControl(r rune) rune {
	if unicode.IsControl(r) {
		return -1
	}
	return r
}

type chatSend struct {
	Room string `json:"room"`
	Nick string `json:"nick"`
	Text string `json:"text"`
}

// serveChatSend: POST /demo/chat/send {"room","nick","text"} → 200 {"id"}.
func (d *Demo) serveChatSend(w http.ResponseWriter, r *http.Request) {
	var req chatSend
	if !readJSON(w, r, &req) {
		return
	}
	if !ValidRoom(req.Room) {
		writeError(w, http.StatusNotFound, "no room "+quoteShort(req.Room)+"; rooms are "+strings.Join(Rooms, ", "))
		return
	}
	nick, text, ok := cleanChat(req.Nick, req.Text)
	if !ok {
		writeError(w, http.StatusBadRequest, "a nickname of 1–24 characters and a message of 1–500 characters are required")
		return
	}
	if !d.allowed(w, r, ChatChannel(req.Room), true) {
		return
	}
	if !d.allowRate("chat", r) {
		writeError(w, http.StatusTooManyRequests, "slow down: at most 4 messages a second")
		return
	}
	id, err := d.publishJSON(r.Context(), ChatChannel(req.Room), "chat", ChatMessage{Nick: nick, Text: text})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot publish: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// quoteShort quotes s, cut to 32 bytes, for an error message.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return `"` + strings.Map(dropControl, s) + `"`
}
