package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
)

// A session with a backlog: while one attempt works through it, the other requests of the
// session do not hold worker slots waiting for it. They are covered by the attempt's own
// request (pending until the session is idle) and acknowledged at once, so a second session is
// answered meanwhile even though the worker has only two slots.
func TestBusySessionCoversItsRequests(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		slow := llm.Echo{Delay: 400 * time.Millisecond}
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			return slow.Stream(ctx, msgs, onDelta)
		}}
		opt := options("w", model)
		opt.Concurrency = 2
		opt.ClaimIdle = time.Second // reclaim ticks every 250ms

		// Queued before the worker starts, each message has a request of its own (one sent while
		// a worker holds the session's lease queues none: the holder answers it), so the
		// requests after b0 find the session busy and are covered. (Sent to a running worker,
		// the backlog sometimes queued no request past b0: 3 runs in 15 failed with none covered.)
		busy := e.session()
		for m := range 4 {
			e.send(busy, fmt.Sprint("b", m))
		}
		other := e.session()
		e.send(other, "hello")
		w := e.start(opt)
		h := e.waitHistory(other, 2, 10*time.Second)
		if h[1].Msg != "echo: hello" {
			t.Fatalf("other session: %s", texts(h))
		}
		hb := e.waitHistory(busy, 8, 10*time.Second)
		// If they waited, the busy session's waiting requests fill both slots and "hello"
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
		if n := w.metric(t, "chatbot_worker_requests_covered_total"); n < 1 {
			t.Fatalf("covered %v requests, want some", n)
		}
		e.waitIdle(10 * time.Second)
	})
}

// The attempt that holds a busy session dies: the messages sent while it held the lease queued
// no request of their own (the holder answers them), but its own request is still pending, so
// after claim_idle another consumer takes it over and answers the whole backlog, in order, once.
func TestCoveredRequestsSurviveTheHoldersDeath(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		if err := e.st.EnsureGroups(e.ctx); err != nil {
			t.Fatal(err)
		}
		tok := e.session()
		e.send(tok, "one")
		// A ghost takes the session and reads the first request, then dies. Its lease is
		// shorter than claim_idle, as a worker's is, and taken before the read: it has expired
		// when the request is taken over. It lasts long enough for the heir to start and
		// find the session busy on a loaded machine.
		const claimIdle, lease = 2 * time.Second, 1500 * time.Millisecond
		if _, state, err := e.st.BeginTurn(e.ctx, tok, "ghost-0/1", 0, lease); err != nil || state != store.TurnReady {
			t.Fatalf("ghost begin %v %v", state, err)
		}
		got, err := e.st.ReadRequests(e.ctx, 0, "ghost-0", 10, 100*time.Millisecond)
		if err != nil || len(got) != 1 {
			t.Fatalf("ghost read %+v %v", got, err)
		}
		e.send(tok, "two")
		e.send(tok, "three")
		rdb := e.st.Client()
		if n, err := rdb.Do(e.ctx, rdb.B().Xlen().Key(e.st.Keys().Requests(0)).Build()).AsInt64(); err != nil || n != 1 {
			t.Fatalf("%d requests in the stream (%v), want the ghost's only: the lease holder answers the others", n, err)
		}
		opt := options("heir", llm.Echo{})
		opt.ClaimIdle = claimIdle
		w := e.start(opt)
		// The ghost's request is taken over and the whole backlog answered.
		h := e.waitHistory(tok, 6, 20*time.Second)
		for i, want := range []string{"one", "echo: one", "two", "echo: two", "three", "echo: three"} {
			if h[i].Msg != want {
				t.Fatalf("history %s", texts(h))
			}
		}
		if n := len(ofType(e.events(tok), chat.FrameMessage)); n != 3 {
			t.Fatalf("%d message events, want 3", n)
		}
		if n := w.metric(t, "chatbot_worker_requests_reclaimed_total"); n != 1 {
			t.Fatalf("reclaimed %v, want the ghost's request", n)
		}
		e.waitIdle(10 * time.Second)
	})
}
