package worker

import (
	"slices"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
)

func TestPromptKeepsTheLastTurns(t *testing.T) {
	h := func(role, text string) chat.Message { return chat.Message{Role: role, Msg: text} }
	history := []chat.Message{
		h(chat.RoleBot, "orphan reply"), // its question is outside the window
		h(chat.RoleHuman, "q1"), h(chat.RoleBot, "a1"),
		h(chat.RoleHuman, "q2"),                      // failed: no reply
		h(chat.RoleHuman, "q3"), h(chat.RoleBot, ""), // stopped before any text
		h(chat.RoleHuman, "q4"), h(chat.RoleBot, "a4"),
	}
	msg := chat.Message{Role: chat.RoleHuman, Msg: "now"}
	u := func(s string) llm.Message { return llm.Message{Role: llm.RoleUser, Content: s} }
	a := func(s string) llm.Message { return llm.Message{Role: llm.RoleAssistant, Content: s} }
	sys := llm.Message{Role: llm.RoleSystem, Content: "sys"}
	cases := []struct {
		system string
		turns  int
		want   []llm.Message
	}{
		{"sys", 0, []llm.Message{sys, u("now")}},
		{"sys", 1, []llm.Message{sys, u("q4"), a("a4"), u("now")}},
		{"", 2, []llm.Message{u("q3"), u("q4"), a("a4"), u("now")}},
		{"sys", 10, []llm.Message{sys, u("q1"), a("a1"), u("q2"), u("q3"), u("q4"), a("a4"), u("now")}},
	}
	for _, c := range cases {
		if got := prompt(c.system, history, c.turns, msg); !slices.Equal(got, c.want) {
			t.Errorf("%d turns: %+v, want %+v", c.turns, got, c.want)
		}
	}
}

// A request entry or message stamped by a host whose clock is ahead counts as no wait, never
// a negative one.
func TestSinceClampsClockSkew(t *testing.T) {
	now := time.Now()
	if d := sinceClamped(now.Add(time.Second), now); d != 0 {
		t.Errorf("from a second ahead: %s, want 0", d)
	}
	if d := sinceClamped(now.Add(-time.Second), now); d != time.Second {
		t.Errorf("from a second before: %s, want 1s", d)
	}
}
