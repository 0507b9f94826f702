package worker_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/llm/llmtest"
)

// The model's output reaches clients as delta events, coalesced: the first piece at once, then
// a few tens of milliseconds or a few hundred bytes per event; their text is the reply's
// beginning (an unsent tail is dropped: the message event carries the whole reply).
func TestDeltasAreCoalesced(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		pieces := strings.Split(strings.Repeat("abcdefghij", 300), "") // 3000 one-byte pieces
		full := strings.Join(pieces, "")
		model := llm.Func(func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			if llm.LastUser(msgs) == "burst" {
				for _, p := range pieces {
					onDelta(p)
				}
				time.Sleep(100 * time.Millisecond) // a moment before the model says it is done
				return full, nil
			}
			return slowWords(strings.Repeat("word ", 100), 5*time.Millisecond)(ctx, msgs, onDelta) // ~0.5s
		})
		w := e.start(options("w", model))
		tok := e.session()
		burst := e.send(tok, "burst")
		slow := e.send(tok, "slow")
		e.waitHistory(tok, 4, 20*time.Second)
		evs := e.events(tok)
		for _, c := range []struct {
			q    chat.Message
			full string
			most int
		}{{burst, full, 100}, {slow, strings.Repeat("word ", 100), 60}} {
			var text strings.Builder
			n := 0
			for _, d := range ofType(evs, chat.FrameDelta) {
				if d.ReplyTo == c.q.ID {
					text.WriteString(d.Text)
					n++
				}
			}
			if n == 0 || n > c.most || !strings.HasPrefix(c.full, text.String()) {
				t.Fatalf("%q: %d deltas (want 1..%d) with %d bytes, a prefix of the reply: %v", c.q.Msg, n, c.most, text.Len(), strings.HasPrefix(c.full, text.String()))
			}
		}
		if n := w.metric(t, "chatbot_llm_time_to_first_token_seconds"); n != 2 {
			t.Fatalf("time to first token observed %v times", n)
		}
		if n := w.metric(t, "chatbot_llm_request_duration_seconds", "result", "ok"); n != 2 {
			t.Fatalf("model latency observed %v times", n)
		}
	})
}

// The worker with the openai provider against an OpenAI-compatible server streaming SSE: the
// server gets the system prompt, the earlier turns and the message; a failing call is retried.
func TestWorkerWithOpenAIProvider(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		srv := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, req llmtest.Request, n int) {
			if n == 2 { // the second call fails once
				llmtest.Fail(w, http.StatusServiceUnavailable, "overloaded")
				return
			}
			llmtest.Echo(w, r, req, n)
		})
		model, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL, APIKey: "sk-test", Model: "m", MaxTokens: 100})
		if err != nil {
			t.Fatal(err)
		}
		e.start(options("w", model))
		tok := e.session()
		e.send(tok, "first")
		e.waitHistory(tok, 2, 10*time.Second)
		e.send(tok, "second")
		h := e.waitHistory(tok, 4, 10*time.Second)
		if h[1].Msg != "echo: first" || h[3].Msg != "echo: second" {
			t.Fatalf("history %s", texts(h))
		}
		reqs := srv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d calls, want 3 (one retried)", len(reqs))
		}
		want := []llmtest.Message{
			{Role: "system", Content: "You are a test."},
			{Role: "user", Content: "first"}, {Role: "assistant", Content: "echo: first"},
			{Role: "user", Content: "second"},
		}
		if !slices.Equal(reqs[2].Messages, want) || reqs[2].Auth != "Bearer sk-test" || !reqs[2].Stream {
			t.Fatalf("last call %+v", reqs[2])
		}
	})
}
