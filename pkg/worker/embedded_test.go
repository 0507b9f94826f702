package worker_test

import (
	"fmt"
	"testing"
	"time"

	"chatbot/pkg/llm"
)

// The worker on the in-process Redis of `chatbot dev` (miniredis): several sessions answered in
// order with their context. (Takeover on it: TestTakeoverOfAbandonedRequest.)
func TestWorkerOnEmbeddedRedis(t *testing.T) {
	embedded(t, 2, func(t *testing.T, e *env) {
		model := &recorder{}
		opt := options("dev", model)
		opt.Replicas = 2
		e.start(opt)
		var tokens []string
		for s := range 3 {
			tok := e.session()
			tokens = append(tokens, tok)
			for m := range 3 {
				e.send(tok, fmt.Sprintf("s%d m%d", s, m))
			}
		}
		for s, tok := range tokens {
			h := e.waitHistory(tok, 6, 30*time.Second)
			for m := range 3 {
				want := fmt.Sprintf("s%d m%d", s, m)
				if h[2*m].Msg != want || h[2*m+1].Msg != "echo: "+want {
					t.Fatalf("history %s", texts(h))
				}
				calls := model.callsFor(want)
				if len(calls) == 0 || len(calls[len(calls)-1]) != 2+2*m || llm.LastUser(calls[0]) != want {
					t.Fatalf("%q: calls %+v", want, calls)
				}
			}
		}
		e.waitIdle(10 * time.Second)
	})
}
