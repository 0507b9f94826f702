package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"chatbot/pkg/retry"
)

func TestDelayGrowsByFactorUpToMax(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, c := range []struct {
		b    retry.Backoff
		want []time.Duration
	}{
		{retry.Backoff{Base: 50 * ms, Max: 200 * ms}, []time.Duration{50 * ms, 100 * ms, 200 * ms, 200 * ms}},
		{retry.Backoff{Base: 20 * ms, Factor: 3}, []time.Duration{20 * ms, 60 * ms, 180 * ms, 540 * ms}},
		{retry.Backoff{Base: 100 * ms, Max: 100 * ms}, []time.Duration{100 * ms, 100 * ms}},
		{retry.Backoff{Base: time.Hour}, []time.Duration{time.Hour, 2 * time.Hour}},
	} {
		for i, want := range c.want {
			if got := c.b.Delay(i + 1); got != want {
				t.Errorf("%+v: Delay(%d) = %s, want %s", c.b, i+1, got, want)
			}
		}
	}
	// No cap and many failures: the wait saturates instead of overflowing.
	if d := (retry.Backoff{Base: time.Second}).Delay(200); d <= 0 {
		t.Fatalf("Delay(200) = %s", d)
	}
}

func TestJitterTakesOffUpToItsShare(t *testing.T) {
	t.Parallel()
	b := retry.Backoff{Base: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			if got := b.Delay(n + 1); got > want || got < want*4/5 {
				t.Fatalf("Delay(%d) = %s, want %s less up to a fifth", n+1, got, want)
			}
		}
	}
}

func TestNextCountsAndResetStartsOver(t *testing.T) {
	t.Parallel()
	b := retry.Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond}
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	b.Reset()
	got = append(got, b.Next())
	want := []time.Duration{1, 2, 4, 4, 1}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", got, want)
		}
	}
}

func TestWaitsEndAtOnceWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- retry.Sleep(ctx, time.Hour) }()
	cancel()
	if <-done {
		t.Fatal("Sleep reported a full wait after its context ended")
	}
	if retry.Sleep(ctx, 0) {
		t.Fatal("Sleep with an ended context reported true")
	}
	b := retry.Backoff{Base: time.Hour}
	if b.Wait(ctx) {
		t.Fatal("Wait reported a full wait after its context ended")
	}
	if !retry.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep without cancellation reported false")
	}
}

func TestDoRetriesUpToItsAttempts(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var calls []int
	err := retry.Do(context.Background(), retry.Backoff{Base: time.Microsecond}, 3, func(n int) error {
		calls = append(calls, n)
		return boom
	})
	if !errors.Is(err, boom) || len(calls) != 3 || calls[0] != 1 || calls[2] != 3 {
		t.Fatalf("err %v, calls %v", err, calls)
	}
	n := 0
	err = retry.Do(context.Background(), retry.Backoff{Base: time.Microsecond}, 5, func(int) error {
		if n++; n < 3 {
			return boom
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d calls, want success at the third", err, n)
	}
}

func TestDoStopsAtAStopError(t *testing.T) {
	t.Parallel()
	fatal := errors.New("refused")
	n := 0
	err := retry.Do(context.Background(), retry.Backoff{Base: time.Hour}, 0, func(int) error {
		n++
		return retry.Stop(fatal)
	})
	if err != fatal || n != 1 {
		t.Fatalf("err %v (want the error itself, unwrapped) after %d calls", err, n)
	}
	if retry.Stop(nil) != nil {
		t.Fatal("Stop(nil) is not nil")
	}
}

func TestDoTriesOnceThenEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	n := 0
	// Unbounded attempts, an hour between them: the ended context stops it after the first.
	err := retry.Do(ctx, retry.Backoff{Base: time.Hour}, 0, func(int) error {
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err %v after %d calls, want the step's error after one", err, n)
	}
}
