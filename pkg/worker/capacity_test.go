package worker_test

import (
	"context"
	"testing"
	"time"

	"chatbot/pkg/llm"
	"chatbot/pkg/store/storetest"
)

// TestCapacityGauges: chatbot_worker_slots is replicas x concurrency while the worker takes
// work and 0 once it stops; chatbot_worker_slots_busy counts the requests worked on now (what
// an autoscaler reads against it).
func TestCapacityGauges(t *testing.T) {
	embedded(t, 2, func(t *testing.T, e *env) {
		entered, release := make(chan struct{}, 4), make(chan struct{})
		model := llm.Func(func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		})
		opt := options("cap", model)
		opt.Replicas, opt.Concurrency = 2, 3
		w := e.start(opt)
		storetest.Eventually(t, 10*time.Second, "chatbot_worker_slots 6", func() bool {
			return w.metric(t, "chatbot_worker_slots") == 6
		})
		if busy := w.metric(t, "chatbot_worker_slots_busy"); busy != 0 {
			t.Fatalf("slots busy with nothing sent: %v", busy)
		}
		a, b := e.session(), e.session()
		e.send(a, "one")
		e.send(b, "two")
		for range 2 {
			select {
			case <-entered:
			case <-e.ctx.Done():
				t.Fatal("the model was not called twice")
			}
		}
		if busy := w.metric(t, "chatbot_worker_slots_busy"); busy != 2 {
			t.Errorf("slots busy with two replies being generated: %v, want 2", busy)
		}
		close(release)
		e.waitHistory(a, 2, 10*time.Second)
		e.waitHistory(b, 2, 10*time.Second)
		storetest.Eventually(t, 10*time.Second, "no slot busy once both are answered", func() bool {
			return w.metric(t, "chatbot_worker_slots_busy") == 0
		})
		if err := w.stop(t); err != nil {
			t.Fatal(err)
		}
		if slots := w.metric(t, "chatbot_worker_slots"); slots != 0 {
			t.Errorf("chatbot_worker_slots after the worker stopped: %v, want 0", slots)
		}
	})
}
