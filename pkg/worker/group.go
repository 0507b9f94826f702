package worker

import (
	"context"
	"errors"
	"sync"
)

// group writes to Redis what the replies of a Worker write at the same moment (their deltas,
// their lease renewals) in one call of write, for all of them: one script step for many on a
// single Redis (store.EmitDeltas, store.RenewLeases) rather than a script each. A caller's item
// waits while a write is in progress, and the next write takes every item that waited. The
// writer is whichever caller found none writing; when it is done, the first one waiting writes
// the next group. The replies send on one grid (onGrid), so theirs meet.
type group[T any] struct {
	// write writes items, each one's result into it. It is not cancelled with the context of
	// the caller that writes: the items are others' too (the store's command timeout bounds it).
	write func(ctx context.Context, items []T)
	// fail sets err as an item's result: what the others of a group get when its write panics
	// (the writer's own goroutine goes on panicking, to whoever recovers it).
	fail func(item *T, err error)

	mu      sync.Mutex
	queue   []*groupItem[T]
	writing bool
}

type groupItem[T any] struct {
	v    T
	lead bool // set before done closes: this one writes the next group, itself among it
	done chan struct{}
}

// do writes v with whatever else is waiting, and returns it with its result.
func (g *group[T]) do(ctx context.Context, v T) (out T) {
	me := &groupItem[T]{v: v, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, me)
	if g.writing {
		g.mu.Unlock()
		<-me.done
		if !me.lead {
			return me.v
		}
		g.mu.Lock()
	}
	g.writing = true
	items := g.queue
	g.queue = nil
	g.mu.Unlock()

	vs := make([]T, len(items))
	for i, it := range items {
		vs[i] = it.v
	}
	written := false
	defer func() {
		// Whatever happened, the others get their results and the next group its writer: a
		// write that panicked must not leave them waiting for ever.
		for i, it := range items {
			it.v = vs[i]
			if !written {
				g.fail(&it.v, errGroupPanicked)
			}
			if it != me {
				close(it.done)
			}
		}
		g.mu.Lock()
		if len(g.queue) > 0 {
			next := g.queue[0]
			next.lead = true
			close(next.done)
		} else {
			g.writing = false
		}
		g.mu.Unlock()
		out = me.v
	}()
	g.write(context.WithoutCancel(ctx), vs)
	written = true
	return
}

// errGroupPanicked is the result of the items of a group whose write panicked.
var errGroupPanicked = errors.New("writing a group to Redis panicked")
