package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
)

// A session with a backlog: while one attempt works through it (each reply longer than the
// busy grace), the other requests of the session do not hold worker slots waiting for it. They
// are parked and acknowledged later by a reclaim, and a second session is answered meanwhile
// even though the worker has only two slots.
func TestBusySessionParksItsRequests(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		slow := llm.Echo{Delay: 400 * time.Millisecond}
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			return slow.Stream(ctx, msgs, onDelta)
		}}
		opt := options("w", model)
		opt.Concurrency = 2
		opt.ClaimIdle = time.Second // reclaim ticks every 250ms
		w := e.start(opt)

		busy := e.session()
		for m := range 4 {
			e.send(busy, fmt.Sprint("b", m))
		}
		other := e.session()
		e.send(other, "hello")
		h := e.waitHistory(other, 2, 10*time.Second)
		if h[1].Msg != "echo: hello" {
			t.Fatalf("other session: %s", texts(h))
		}
		hb := e.waitHistory(busy, 8, 10*time.Second)
		// Without parking, the busy session's waiting requests fill both slots and "hello"
		// is read only once the whole backlog is answered. (Offsets are Redis's clock.)
		hello := ofType(e.events(other), chat.FrameMessage)[0]
		last := ofType(e.events(busy), chat.FrameMessage)[3]
		if chat.CompareIDs(hello.Offset, last.Offset) >= 0 {
			t.Fatalf("the other session was answered (%s) only after the busy backlog (%s)", hello.Offset, last.Offset)
		}
		for m := range 4 {
			if hb[2*m].Msg != fmt.Sprint("b", m) || hb[2*m+1].Msg != fmt.Sprint("echo: b", m) {
				t.Fatalf("busy session out of order: %s", texts(hb))
			}
		}
		if n := model.count(); n != 5 {
			t.Fatalf("%d model calls for 5 messages", n)
		}
		if n := w.metric(t, "chatbot_worker_requests_parked_total"); n < 1 {
			t.Fatalf("parked %v requests, want some", n)
		}
		e.waitIdle(10 * time.Second)
	})
}
