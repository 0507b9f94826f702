package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
)

// Many sessions, several messages each sent without waiting, two worker processes of two
// consumers each: every message is answered once, in order, and each model call saw the system
// prompt and every earlier turn of its session.
func TestManySessionsAnsweredInOrderExactlyOnce(t *testing.T) {
	const sessions, perSession = 12, 4
	each(t, 3, func(t *testing.T, e *env) {
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			return llm.Echo{Delay: 10 * time.Millisecond}.Stream(ctx, msgs, onDelta)
		}}
		for _, name := range []string{"p1", "p2"} {
			opt := options(name, model)
			opt.Replicas, opt.Concurrency = 2, 3
			e.start(opt)
		}
		tokens := make([]string, sessions)
		sent := make([][]chat.Message, sessions)
		var wg sync.WaitGroup
		for s := range sessions {
			tokens[s] = e.session()
			wg.Go(func() {
				for m := range perSession {
					sent[s] = append(sent[s], e.send(tokens[s], fmt.Sprintf("s%d m%d", s, m)))
				}
			})
		}
		wg.Wait()
		for s, tok := range tokens {
			h := e.waitHistory(tok, 2*perSession, 30*time.Second)
			for m := range perSession {
				q, a := h[2*m], h[2*m+1]
				want := fmt.Sprintf("s%d m%d", s, m)
				if q.Msg != want || q.Role != chat.RoleHuman || q.ID != sent[s][m].ID ||
					a.Msg != "echo: "+want || a.Role != chat.RoleBot || a.ReplyTo != q.ID {
					t.Fatalf("session %d turn %d: %s", s, m, texts(h))
				}
				// Exactly one model call per message, with every earlier turn as context.
				calls := model.callsFor(want)
				if len(calls) != 1 {
					t.Fatalf("%q: %d model calls", want, len(calls))
				}
				ctx := []llm.Message{{Role: llm.RoleSystem, Content: "You are a test."}}
				for k := range m {
					earlier := fmt.Sprintf("s%d m%d", s, k)
					ctx = append(ctx, llm.Message{Role: llm.RoleUser, Content: earlier}, llm.Message{Role: llm.RoleAssistant, Content: "echo: " + earlier})
				}
				ctx = append(ctx, llm.Message{Role: llm.RoleUser, Content: want})
				if !slices.Equal(calls[0], ctx) {
					t.Fatalf("%q: the model saw %+v, want %+v", want, calls[0], ctx)
				}
			}
			// One message event per message, in order; no attempt restarted.
			evs := e.events(tok)
			msgs := ofType(evs, chat.FrameMessage)
			if len(msgs) != perSession {
				t.Fatalf("session %d: %d message events", s, len(msgs))
			}
			for m, ev := range msgs {
				if ev.ReplyTo != sent[s][m].ID || ev.Msg != "echo: "+sent[s][m].Msg || ev.Offset == "" {
					t.Fatalf("session %d message event %d: %+v", s, m, ev)
				}
			}
			for _, d := range ofType(evs, chat.FrameDelta) {
				if d.Restart {
					t.Fatalf("session %d: a delta restarted: %+v", s, d)
				}
			}
			if n := len(ofType(evs, chat.FrameError)); n != 0 {
				t.Fatalf("session %d: %d error events", s, n)
			}
		}
		if n := model.count(); n != sessions*perSession {
			t.Fatalf("%d model calls for %d messages", n, sessions*perSession)
		}
		e.waitIdle(10 * time.Second)
	})
}
