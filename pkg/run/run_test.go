package run_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/run"
)

// recorder notes the order services start and stop in.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

// service starts, then runs until its context ends, noting both.
func (r *recorder) service(name string, started chan<- struct{}) run.Named {
	return run.Named{Name: name, Service: run.Func(func(ctx context.Context) error {
		r.note("start " + name)
		started <- struct{}{}
		<-ctx.Done()
		r.note("stop " + name)
		return nil
	})}
}

func TestAllStopsInReverseOrder(t *testing.T) {
	var r recorder
	started := make(chan struct{}, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run.All(ctx, r.service("a", started), r.service("b", started), r.service("c", started))
	}()
	for range 3 {
		<-started
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("All did not return")
	}
	stops := slices.DeleteFunc(slices.Clone(r.events), func(e string) bool { return e[:4] != "stop" })
	if !slices.Equal(stops, []string{"stop c", "stop b", "stop a"}) {
		t.Fatalf("stopped in order %v, want c, b, a", stops)
	}
}

func TestAllReturnsTheFirstFailureAndStopsTheRest(t *testing.T) {
	var r recorder
	started := make(chan struct{}, 2)
	boom := errors.New("boom")
	failing := run.Named{Name: "bad", Service: run.Func(func(ctx context.Context) error {
		<-started // fail once the other is running
		return boom
	})}
	err := run.All(context.Background(), r.service("good", started), failing)
	if !errors.Is(err, boom) || err.Error() != "bad: boom" {
		t.Fatalf("got %v, want the failure named", err)
	}
	if !slices.Contains(r.events, "stop good") {
		t.Fatalf("the other service was not stopped: %v", r.events)
	}
}

func TestAllEndsWhenAServiceReturnsByItself(t *testing.T) {
	var r recorder
	started := make(chan struct{}, 1)
	quits := run.Named{Name: "quits", Service: run.Func(func(ctx context.Context) error { return nil })}
	if err := run.All(context.Background(), r.service("long", started), quits); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.events, "stop long") {
		t.Fatalf("events %v", r.events)
	}
}
