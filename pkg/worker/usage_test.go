package worker_test

import (
	"net/http"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/llm/llmtest"
)

// Each reply carries its usage, in the history and on its message event: the echo model's
// one token per word (the prompt's words: system prompt, history and message), an
// OpenAI-compatible server's reported usage, and an estimate, marked so, from a server that
// reports none. The tokens are counted in chatbot_llm_tokens_total, and the model is told
// the user (a hash of the session token in auth.mode none).
func TestUsageOnRepliesAndMetrics(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		withUsage := llmtest.New(t, llmtest.EchoUsage)
		without := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, req llmtest.Request, n int) {
			llmtest.Echo(w, r, req, n)
		})
		for _, c := range []struct {
			name  string
			model func() llm.Model
			want  chat.Usage // of the second turn
		}{
			// "You are a test." 4 + "one two" 2 + "echo: one two" 3 + "three four five" 3 = 12;
			// "echo: three four five" 4.
			{"echo", func() llm.Model { return llm.Echo{} }, chat.Usage{PromptTokens: 12, CompletionTokens: 4}},
			{"openai", func() llm.Model { return openai(t, withUsage.URL) }, chat.Usage{PromptTokens: 12, CompletionTokens: 4}},
			// Estimated: at least a token per word, about four bytes a token.
			{"estimated", func() llm.Model { return openai(t, without.URL) },
				chat.Usage{PromptTokens: 4 + 2 + 4 + 4, CompletionTokens: 6, Estimated: true}},
		} {
			t.Run(c.name, func(t *testing.T) {
				opt := options("w-"+c.name, c.model())
				opt.SendUser = true
				w := e.start(opt)
				tok := e.session()
				e.send(tok, "one two")
				e.waitHistory(tok, 2, 10*time.Second)
				e.send(tok, "three four five")
				h := e.waitHistory(tok, 4, 10*time.Second)
				if h[3].Usage == nil || *h[3].Usage != c.want {
					t.Fatalf("stored reply's usage %+v, want %+v", h[3].Usage, c.want)
				}
				if h[1].Usage == nil || h[0].Usage != nil || h[2].Usage != nil {
					t.Fatalf("usage on the replies only: %+v %+v %+v", h[0].Usage, h[1].Usage, h[2].Usage)
				}
				msgs := ofType(e.events(tok), chat.FrameMessage)
				if len(msgs) != 2 || msgs[1].Usage == nil || *msgs[1].Usage != c.want {
					t.Fatalf("message events %+v", msgs)
				}
				total := *h[1].Usage
				if got := w.metric(t, "chatbot_llm_tokens_total", "kind", "prompt"); got != float64(total.PromptTokens+c.want.PromptTokens) {
					t.Errorf("prompt tokens metric %v", got)
				}
				if got := w.metric(t, "chatbot_llm_tokens_total", "kind", "completion"); got != float64(total.CompletionTokens+c.want.CompletionTokens) {
					t.Errorf("completion tokens metric %v", got)
				}
				if c.name == "openai" {
					reqs := withUsage.Requests()
					last := reqs[len(reqs)-1]
					if !last.IncludeUsage || last.User != llm.UserID("", tok) {
						t.Errorf("request include_usage %v, user %q", last.IncludeUsage, last.User)
					}
				}
				if err := w.stop(t); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func openai(t *testing.T, url string) llm.Model {
	t.Helper()
	m, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: url, Model: "m", MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
