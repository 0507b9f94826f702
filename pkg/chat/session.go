package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Roles of a Message.
const (
	RoleHuman = "human"
	RoleBot   = "bot"
)

// MaxNameChars is the longest session name, in characters, after trimming.
const MaxNameChars = 100

// Session is what POST /token and /refresh_token return.
type Session struct {
	Token        string    `json:"token"`
	Name         string    `json:"name"`
	SessionStart time.Time `json:"session_start"`
	Messages     []Message `json:"messages"`
}

// Message is one turn of a conversation, as kept in the history.
type Message struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Msg       string    `json:"msg"`
	Timestamp time.Time `json:"timestamp"`
	ReplyTo   string    `json:"reply_to,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Stopped   bool      `json:"stopped,omitempty"`
	// Usage is what the model's reply cost (bot messages a model answered).
	Usage *Usage `json:"usage,omitempty"`
	// Traceparent is the W3C traceparent of the span that queued a user message, kept with it
	// while it is pending so that the worker's turn joins its trace (pkg/telemetry); "" when
	// serve does not trace. It is dropped when the message moves to the history. Last, so
	// that the store can strip it from the stored JSON (WithoutTraceparent).
	Traceparent string `json:"traceparent,omitempty"`
}

// Usage is the tokens one model reply used: as the provider reported them, or estimated
// (Estimated) when it reported none.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	Estimated        bool  `json:"estimated,omitempty"`
}

// ValidName trims name and reports whether it is a valid session name: not empty or blank, at
// most MaxNameChars characters, valid UTF-8 without control characters, line or paragraph
// separators (U+2028, U+2029) or invisible code points (format characters such as zero-width
// spaces and bidi overrides, and Unicode's other default-ignorable code points: Hangul fillers
// U+115F, U+1160, U+3164, U+FFA0, the combining grapheme joiner U+034F, ...), with at least one
// visible character. The zero-width joiner and the variation selectors of emoji sequences are
// allowed; they do not count as visible.
func ValidName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameChars {
		return "", false
	}
	visible := false
	for _, r := range name {
		if !nameRune(r) {
			return "", false
		}
		if r != zeroWidthJoiner && !unicode.Is(unicode.Variation_Selector, r) && unicode.IsGraphic(r) && !unicode.IsSpace(r) {
			visible = true
		}
	}
	if !visible {
		return "", false
	}
	return name, true
}

const zeroWidthJoiner = '\u200d'

// nameRune reports whether r may appear in a session name.
func nameRune(r rune) bool {
	switch {
	case r == zeroWidthJoiner || unicode.Is(unicode.Variation_Selector, r):
		return true
	case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r),
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return false
	}
	return true
}

// TokenTag is how logs and the operator's commands name a session: 8 hex digits of the
// SHA-256 of its token, which identify it without giving access to it (a token is a
// credential, never logged or printed). `printf %s "$TOKEN" | sha256sum | cut -c1-8` gives the
// same.
func TokenTag(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// ValidToken reports whether t has the shape of a token this project issues (a UUID in its
// canonical lower-case form), so no crafted token can name another key.
func ValidToken(t string) bool {
	if len(t) != 36 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
