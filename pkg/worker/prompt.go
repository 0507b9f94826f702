package worker

import (
	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
)

// prompt is what the model gets for msg: the system prompt, then the last `turns` turns of
// history (a turn is a user message and the reply to it; human becomes user, bot becomes
// assistant), then msg. history is oldest first, as BeginTurn returns it (the worker asks for
// 2*turns messages); a turn that failed has no reply, a reply whose question fell outside the
// window is left out, and so are empty messages (a reply stopped before any text).
func prompt(system string, history []chat.Message, turns int, msg chat.Message) []llm.Message {
	out := make([]llm.Message, 0, 2*turns+2)
	if system != "" {
		out = append(out, llm.Message{Role: llm.RoleSystem, Content: system})
	}
	start, humans := len(history), 0
	for i := len(history) - 1; i >= 0 && humans < turns; i-- {
		if history[i].Role == chat.RoleHuman {
			humans++
			start = i
		}
	}
	for _, m := range history[start:] {
		if m.Msg == "" {
			continue
		}
		role := llm.RoleUser
		if m.Role == chat.RoleBot {
			role = llm.RoleAssistant
		}
		out = append(out, llm.Message{Role: role, Content: m.Msg})
	}
	return append(out, llm.Message{Role: llm.RoleUser, Content: msg.Msg})
}
