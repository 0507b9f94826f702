package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store/storetest"
)

// A regeneration is answered like a message: the model gets the conversation before the
// message and the message (not the reply it replaces); the new reply takes the old one's place
// in the history, and its message event names the reply replaced.
func TestRegenerateAnswersAgain(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		model := &recorder{}
		e.start(options("w", model))
		tok := e.session()
		e.send(tok, "one")
		two := e.send(tok, "two")
		old := e.waitHistory(tok, 4, 20*time.Second)[3]
		if _, err := e.st.Regenerate(e.ctx, tok, "r-1", "c-1", limits); err != nil {
			t.Fatal(err)
		}
		var h []chat.Message
		storetest.Eventually(t, 20*time.Second, "the reply replaced", func() bool {
			h = e.history(tok)
			return len(h) == 4 && h[3].ID != old.ID
		})
		if h[3].ID == old.ID || h[3].ReplyTo != two.ID || h[3].Msg != "echo: two" || h[2].ID != two.ID {
			t.Fatalf("history %s: want the reply to two replaced", texts(h))
		}
		calls := model.callsFor("two")
		if len(calls) != 2 {
			t.Fatalf("%d calls for two, want 2", len(calls))
		}
		again := calls[1]
		want := []llm.Message{{Role: llm.RoleUser, Content: "one"}, {Role: llm.RoleAssistant, Content: "echo: one"}, {Role: llm.RoleUser, Content: "two"}}
		if len(again) < len(want) || !equalTail(again, want) {
			t.Fatalf("the regeneration's prompt %+v, want it to end with %+v", again, want)
		}
		msgs := ofType(e.events(tok), chat.FrameMessage)
		last := msgs[len(msgs)-1]
		if last.ID != h[3].ID || last.Replaces != old.ID {
			t.Fatalf("message event %+v, want the new reply replacing %s", last, old.ID)
		}
	})
}

// A regeneration the model fails keeps the reply it was to replace: the user gets model_error
// for the message, and the session goes on.
func TestRegenerateThatFailsKeepsTheReply(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		var calls atomic.Int64
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			if calls.Add(1) > 1 && llm.LastUser(msgs) == "one" {
				return "", errors.New("upstream exploded")
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		}}
		e.start(options("w", model))
		tok := e.session()
		one := e.send(tok, "one")
		old := e.waitHistory(tok, 2, 20*time.Second)[1]
		if _, err := e.st.Regenerate(e.ctx, tok, "r-1", "", limits); err != nil {
			t.Fatal(err)
		}
		var errs []chat.Event
		storetest.Eventually(t, 20*time.Second, "the model_error", func() bool {
			errs = ofType(e.events(tok), chat.FrameError)
			return len(errs) > 0
		})
		if errs[0].Code != chat.CodeModelError || errs[0].ReplyTo != one.ID {
			t.Fatalf("error events %+v", errs)
		}
		e.send(tok, "two")
		h := e.waitHistory(tok, 4, 20*time.Second)
		if h[1].ID != old.ID || h[3].Msg != "echo: two" {
			t.Fatalf("history %s: want the first reply kept", texts(h))
		}
	})
}

func equalTail(got, want []llm.Message) bool {
	got = got[len(got)-len(want):]
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
