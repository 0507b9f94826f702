package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// assertAnsweredOnceAfterRestart checks that text's one reply is stored and published once, and
// that the first delta after the dead attempt's carries "restart": true.
func assertAnsweredOnceAfterRestart(t *testing.T, e *env, token string, q chat.Message, deadDelta string) {
	t.Helper()
	h := e.waitHistory(token, 2, 20*time.Second)
	if h[0].ID != q.ID || h[1].Msg != "echo: "+q.Msg || h[1].ReplyTo != q.ID {
		t.Fatalf("history %s", texts(h))
	}
	evs := e.events(token)
	if n := len(ofType(evs, chat.FrameMessage)); n != 1 {
		t.Fatalf("%d message events, want 1", n)
	}
	deltas := ofType(evs, chat.FrameDelta)
	if len(deltas) < 2 || deltas[0].Text != deadDelta || deltas[0].Restart {
		t.Fatalf("deltas %+v: want the dead attempt's %q first", deltas, deadDelta)
	}
	if !deltas[1].Restart {
		t.Fatalf("the takeover's first delta %+v does not say restart", deltas[1])
	}
	for _, d := range deltas[2:] {
		if d.Restart {
			t.Fatalf("a later delta says restart: %+v", d)
		}
	}
	e.waitIdle(10 * time.Second)
}

// A consumer reads a request, begins the turn, streams a delta and dies (never renews, never
// acknowledges). After claim_idle another consumer takes the request over and answers it once,
// its first delta saying restart.
func TestTakeoverOfAbandonedRequest(t *testing.T) {
	run := func(t *testing.T, e *env) {
		if err := e.st.EnsureGroups(e.ctx); err != nil {
			t.Fatal(err)
		}
		tok := e.session()
		q := e.send(tok, "are you there")
		p := store.Partition(tok, e.parts)
		got, err := e.st.ReadRequests(e.ctx, p, "ghost-0", 10, 100*time.Millisecond)
		if err != nil || len(got) != 1 {
			t.Fatalf("ghost read %+v %v", got, err)
		}
		turn, state, err := e.st.BeginTurn(e.ctx, tok, "ghost-0/1", 0, 500*time.Millisecond)
		if err != nil || state != store.TurnReady {
			t.Fatalf("ghost begin %v %v", state, err)
		}
		if _, err := e.st.EmitDelta(e.ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: q.ID, Text: "half an ans"}); err != nil {
			t.Fatal(err)
		}
		// The ghost is gone. A live worker takes over after claim_idle.
		opt := options("heir", llm.Echo{Delay: 300 * time.Millisecond})
		opt.ClaimIdle = time.Second
		w := e.start(opt)
		assertAnsweredOnceAfterRestart(t, e, tok, q, "half an ans")
		if n := w.metric(t, "chatbot_worker_requests_reclaimed_total"); n != 1 {
			t.Fatalf("reclaimed %v, want 1", n)
		}
	}
	each(t, 2, run)
	embedded(t, 2, run)
}

// A worker process is cut off from Redis in the middle of a reply (its connection closed:
// no renewal, no keep-alive, no acknowledgement). Another process takes over after claim_idle
// and answers once.
func TestTakeoverOfKilledWorker(t *testing.T) {
	each(t, 2, func(t *testing.T, e *env) {
		var once sync.Once
		streamed := make(chan struct{})
		victim := llm.Func(func(ctx context.Context, _ []llm.Message, onDelta func(string) error) (string, error) {
			onDelta("I was say")
			once.Do(func() { close(streamed) })
			<-ctx.Done()
			return "I was say", ctx.Err()
		})
		dying := e.open()
		opt := options("victim", victim)
		opt.ClaimIdle, opt.ShutdownTimeout = time.Second, 100*time.Millisecond
		opt.Store = dying
		e.start(opt)

		tok := e.session()
		q := e.send(tok, "tell me")
		<-streamed
		storetest.Eventually(t, 10*time.Second, "the victim's delta", func() bool {
			return len(ofType(e.events(tok), chat.FrameDelta)) == 1
		})
		dying.Close()

		opt = options("survivor", llm.Echo{Delay: 300 * time.Millisecond})
		opt.ClaimIdle = time.Second
		e.start(opt)
		assertAnsweredOnceAfterRestart(t, e, tok, q, "I was say")
	})
}

// A reply that takes several times claim_idle keeps its request: the consumer keeps it alive
// and renews the lease, so the other worker never takes it and the model is called once.
func TestLongGenerationKeepsItsRequest(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		const claimIdle = 2 * time.Second
		model := &recorder{step: slowWords("a b c d e f g h i j", 500*time.Millisecond)} // 5s
		var workers []*running
		for _, name := range []string{"a", "b"} {
			opt := options(name, model)
			opt.ClaimIdle = claimIdle
			workers = append(workers, e.start(opt))
		}
		tok := e.session()
		e.send(tok, "take your time")
		h := e.waitHistory(tok, 2, 30*time.Second)
		if h[1].Msg != "a b c d e f g h i j" || h[1].Stopped {
			t.Fatalf("history %s", texts(h))
		}
		if n := model.count(); n != 1 {
			t.Fatalf("the model was called %d times, want once", n)
		}
		for _, d := range ofType(e.events(tok), chat.FrameDelta) {
			if d.Restart {
				t.Fatalf("a delta restarted: %+v", d)
			}
		}
		for _, w := range workers {
			if n := w.metric(t, "chatbot_worker_requests_reclaimed_total"); n != 0 {
				t.Fatalf("a request was taken over %v times", n)
			}
		}
		e.waitIdle(10 * time.Second)
	})
}
