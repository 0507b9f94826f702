package retry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff: the wait after the first failure is Base, each further
// failure multiplies it by Factor, up to Max. The zero count is fresh; Reset after a success.
// A Backoff is not safe for concurrent use: each loop keeps its own.
type Backoff struct {
	Base   time.Duration // the wait after the first failure
	Max    time.Duration // the longest wait; 0: no cap
	Factor int           // growth per failure; 0 means 2
	// Jitter is the share of each wait taken off at random (0.2: up to a fifth less), so that
	// callers that failed together do not retry together. 0: exact waits.
	Jitter float64

	failures int
}

// Delay is the wait after failure n (from 1) in a row: Base·Factor^(n-1), at most Max, less
// the jitter.
func (b Backoff) Delay(n int) time.Duration {
	f := b.Factor
	if f <= 0 {
		f = 2
	}
	d := b.Base
	for i := 1; i < n && (b.Max <= 0 || d < b.Max); i++ {
		if d > math.MaxInt64/time.Duration(f) {
			d = math.MaxInt64
			break
		}
		d *= time.Duration(f)
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	if b.Jitter > 0 && d > 0 {
		d -= time.Duration(rand.Int64N(int64(float64(d)*b.Jitter) + 1))
	}
	return d
}

// Next counts one more failure and returns the wait after it.
func (b *Backoff) Next() time.Duration {
	b.failures++
	return b.Delay(b.failures)
}

// Wait counts one more failure and sleeps the wait after it (see Sleep); false when ctx ended.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Reset forgets the failures: the next wait is Base again.
func (b *Backoff) Reset() { b.failures = 0 }

// Sleep waits d or until ctx ends, whichever comes first; false when ctx ended (at once if it
// had already).
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Do calls step until it returns nil, returns an error marked with Stop, or has been called
// attempts times (attempts <= 0: until ctx ends), waiting b's delays in between. step gets the
// attempt's number, from 1. It is called at least once, even when ctx has ended (a step that
// must not be cut short uses a context of its own); ctx ends the waits, and with them the
// retries. Do returns the last error step returned, unwrapped from Stop; nil on success.
func Do(ctx context.Context, b Backoff, attempts int, step func(attempt int) error) error {
	b.Reset()
	for n := 1; ; n++ {
		err := step(n)
		if err == nil {
			return nil
		}
		var stop *stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		if n == attempts || !b.Wait(ctx) {
			return err
		}
	}
}

// Stop marks err as one that another attempt cannot fix: Do returns it at once. Stop(nil) is
// nil.
func Stop(err error) error {
	if err == nil {
		return nil
	}
	return &stopError{err}
}

type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }
