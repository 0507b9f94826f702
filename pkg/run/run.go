// Package run starts long-running services together and stops them in reverse order when the
// context ends or one of them fails.
package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Service is anything long-running. Run blocks until ctx ends (a graceful stop) or it fails;
// it returns nil after a graceful stop.
type Service interface {
	Run(ctx context.Context) error
}

// Func adapts a function to Service.
type Func func(ctx context.Context) error

// Run calls f.
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// Named is a Service with a name for errors.
type Named struct {
	Name string
	Service
}

// All runs every service until ctx ends or one fails. Services stop in reverse start order:
// the last one started is cancelled first and waited for before the one before it, so a web
// tier stops taking requests before what it depends on goes away. The first failure is
// returned.
func All(ctx context.Context, services ...Named) error {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	failed := make(chan struct{})
	var once sync.Once
	runs := make([]running, 0, len(services))
	for _, s := range services {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := running{cancel: cancel, done: make(chan struct{})}
		runs = append(runs, r)
		go func() {
			defer close(r.done)
			err := s.Run(sctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", s.Name, err)
				}
				mu.Unlock()
				once.Do(func() { close(failed) })
				return
			}
			if sctx.Err() == nil {
				// Stopped by itself without being asked: treat as the end of the group.
				once.Do(func() { close(failed) })
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-failed:
	}
	for i := len(runs) - 1; i >= 0; i-- {
		runs[i].cancel()
		<-runs[i].done
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}
