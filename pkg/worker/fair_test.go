package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/llm"
)

// More busy sessions than slots: every session gets its first reply before any session has had
// more than a few. A session whose backlog never ends does not keep its slot while requests of
// other sessions wait for one: after a turn it goes to the back of the line. (Before, a slot
// answered its session's whole backlog first: the first sessions got all their replies before
// the last got any.) The property is the order of the replies, not their times.
func TestBusySessionsShareTheSlots(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		const sessions, backlog, slots, most = 4, 6, 2, 3
		toks := make([]string, sessions)
		for s := range toks {
			toks[s] = e.session()
		}
		for m := range backlog {
			for s, tok := range toks {
				e.send(tok, fmt.Sprintf("s%d m%d", s, m))
			}
		}
		model := &recorder{step: llm.Echo{Delay: 100 * time.Millisecond}.Stream}
		opt := options("w", model)
		opt.Concurrency = slots
		w := e.start(opt)
		for _, tok := range toks {
			e.waitHistory(tok, 2*backlog, 30*time.Second)
		}
		// The sessions in the order the model was called for them.
		model.mu.Lock()
		var order []string
		for _, c := range model.calls {
			s, _, _ := strings.Cut(llm.LastUser(c), " ")
			order = append(order, s)
		}
		model.mu.Unlock()
		replies := map[string]int{}
		for _, s := range order {
			if len(replies) == sessions {
				break
			}
			replies[s]++
			if replies[s] > most {
				t.Fatalf("session %s had %d replies before every session had one (order %v)", s, replies[s], order)
			}
		}
		if n := w.metric(t, "chatbot_worker_requests_yielded_total"); n < 1 {
			t.Fatalf("yielded %v times, want some", n)
		}
		e.waitIdle(10 * time.Second)
	})
}
