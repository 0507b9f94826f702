package chat

import (
	"strings"
	"time"
	"unicode"
)

// MaxTitleChars is the longest session title, in characters.
const MaxTitleChars = 80

// SessionSummary is one entry of GET /sessions: a session of the caller, without its
// messages. Messages counts the messages kept (history and pending); Title is the session's
// first user message cut to MaxTitleChars ("" before the first message).
type SessionSummary struct {
	Token        string    `json:"token"`
	Name         string    `json:"name"`
	SessionStart time.Time `json:"session_start"`
	LastActive   time.Time `json:"last_active"`
	Title        string    `json:"title"`
	Messages     int       `json:"messages"`
}

// SessionList is the answer of GET /sessions: most recently active first; Next is the cursor
// of the following page, nil on the last one.
type SessionList struct {
	Sessions []SessionSummary `json:"sessions"`
	Next     *string          `json:"next"`
}

// Title is a session's title from its first user message: runs of white space (line breaks
// included) and control characters become one space, the ends are trimmed, and the result is
// cut to MaxTitleChars characters.
func Title(msg string) string {
	var b strings.Builder
	space, n := false, 0
	for _, r := range strings.TrimSpace(msg) {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			if n++; n > MaxTitleChars {
				break
			}
			b.WriteByte(' ')
		}
		space = false
		if n++; n > MaxTitleChars {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}
