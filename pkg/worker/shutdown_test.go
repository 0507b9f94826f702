package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store/storetest"
)

// On shutdown a reply in progress is finished and acknowledged before Run returns.
func TestShutdownFinishesInFlightReplies(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		model := llm.Func(func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			once.Do(func() { close(started) })
			select {
			case <-release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		})
		w := e.start(options("w", model))
		tok := e.session()
		e.send(tok, "finish me")
		<-started
		w.cancel()
		close(release)
		if err := w.stop(t); err != nil {
			t.Fatal(err)
		}
		if h := e.history(tok); len(h) != 2 || h[1].Msg != "echo: finish me" {
			t.Fatalf("history after shutdown %s", texts(h))
		}
		e.waitIdle(time.Second) // acknowledged before Run returned
	})
}

// When the shutdown time runs out, what is left is abandoned: the lease is released, the
// request handed back unacknowledged, and another worker answers it (restart) at once.
func TestShutdownAbandonsWhatIsLeft(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		var once sync.Once
		streamed := make(chan struct{})
		stuck := llm.Func(func(ctx context.Context, _ []llm.Message, onDelta func(string) error) (string, error) {
			onDelta("so, um")
			once.Do(func() { close(streamed) })
			<-ctx.Done()
			return "so, um", ctx.Err()
		})
		opt := options("quitter", stuck)
		opt.ShutdownTimeout = 300 * time.Millisecond
		w := e.start(opt)
		tok := e.session()
		q := e.send(tok, "hello")
		<-streamed
		storetest.Eventually(t, 10*time.Second, "the delta", func() bool {
			return len(ofType(e.events(tok), chat.FrameDelta)) == 1
		})
		if err := w.stop(t); err != nil {
			t.Fatal(err)
		}
		if holder, err := e.st.Client().Do(e.ctx, e.st.Client().B().Hget().Key(e.st.Keys().Session(tok)).Field("lease").Build()).ToString(); err != nil || holder != "" {
			t.Fatalf("lease still held after shutdown: %q %v", holder, err)
		}
		if h := e.history(tok); len(h) != 0 {
			t.Fatalf("history %s", texts(h))
		}
		pend, err := e.st.PendingRequests(e.ctx, 0, 10)
		if err != nil || len(pend) != 1 || pend[0].Consumer != "quitter-0" || pend[0].Idle < opt.ClaimIdle {
			t.Fatalf("pending %+v %v: want the request handed back (idle >= %s)", pend, err, opt.ClaimIdle)
		}
		if n := w.metric(t, "chatbot_worker_requests_handed_back_total"); n != 1 {
			t.Fatalf("handed back %v", n)
		}
		e.start(options("heir", llm.Echo{Delay: 300 * time.Millisecond}))
		assertAnsweredOnceAfterRestart(t, e, tok, q, "so, um")
	})
}
