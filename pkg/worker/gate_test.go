package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatbot/pkg/store/storetest"
)

// A reader whose read came back empty and asks for room again queues behind the readers
// already waiting for it. With fewer slots than partitions, each partition's reader then gets
// its turn; before, the reader that gave the room back took it again at once (it was running,
// the readers it woke were not), so a partition whose reader never won was never read: a
// request there waited for ever (seen in TestWorkAnswersServesMetricsAndStops, about 1 run in 4).
func TestGateServesWaitingReadersFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := newGate(1)
	const parts = 3
	a := g.reserve(ctx, parts)
	if a != 1 {
		t.Fatalf("first reserve: %d, want 1", a)
	}
	type got struct {
		who string
		n   int
	}
	order := make(chan got, 3)
	for _, who := range []string{"b", "c"} {
		go func() { order <- got{who, g.reserve(ctx, parts)} }()
		waitWaiting(t, g, map[string]int{"b": 1, "c": 2}[who])
	}
	// a's read came back empty: it gives the room back and asks again at once.
	go func() {
		g.unreserve(a)
		order <- got{"a", g.reserve(ctx, parts)}
	}()
	for _, want := range []string{"b", "c", "a"} {
		select {
		case r := <-order:
			if r.who != want || r.n != 1 {
				t.Fatalf("room went to %s (%d), want %s: the readers waiting come first", r.who, r.n, want)
			}
			g.unreserve(r.n) // its read came back empty too
		case <-ctx.Done():
			t.Fatalf("%s never got room", want)
		}
	}
}

// A reader that stops waiting (its context ends) leaves the line, and the turn it was given
// passes to the next one.
func TestGateReaderLeavesTheLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := newGate(1)
	a := g.reserve(ctx, 1)
	bCtx, bStop := context.WithCancel(ctx)
	bGot := make(chan int, 1)
	go func() { bGot <- g.reserve(bCtx, 1) }()
	waitWaiting(t, g, 1)
	cGot := make(chan int, 1)
	go func() { cGot <- g.reserve(ctx, 1) }()
	waitWaiting(t, g, 2)
	bStop()
	if n := <-bGot; n != 0 {
		t.Fatalf("a reader whose context ended got %d", n)
	}
	g.unreserve(a)
	select {
	case n := <-cGot:
		if n != 1 {
			t.Fatalf("c got %d", n)
		}
	case <-ctx.Done():
		t.Fatal("the room given back never reached the reader behind the one that left")
	}
}

func waitWaiting(t *testing.T, g *gate, n int) {
	t.Helper()
	storetest.Eventually(t, 5*time.Second, fmt.Sprintf("%d readers waiting", n), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.waiting) == n
	})
}
