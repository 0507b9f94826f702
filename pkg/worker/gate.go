package worker

import (
	"context"
	"sync"
)

// gate is the room a consumer has for requests: it counts those the consumer holds (read and
// not yet done with) against its concurrency, so readers ask for no more than there is room
// for. (Which requests are held is heldIDs; how many are being worked on at once is the
// consumer's slot channel.)
type gate struct {
	mu    sync.Mutex
	held  int
	limit int
	wake  chan struct{} // closed (and replaced) whenever a request is done with
}

func newGate(limit int) *gate { return &gate{limit: limit, wake: make(chan struct{})} }

// wait blocks until there is room and returns how many requests one of parts readers may ask
// for: its share of the room, at least 1. It returns 0 when ctx ends. Readers sharing the room
// may together take up to parts-1 more than there is; those wait for a slot.
func (g *gate) wait(ctx context.Context, parts int) int {
	for {
		g.mu.Lock()
		free, wake := g.limit-g.held, g.wake
		g.mu.Unlock()
		if free > 0 {
			select {
			case <-ctx.Done():
				return 0
			default:
			}
			return (free + parts - 1) / parts
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return 0
		}
	}
}

func (g *gate) free() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit - g.held
}

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

func (g *gate) add() {
	g.mu.Lock()
	g.held++
	g.mu.Unlock()
}

func (g *gate) done() {
	g.mu.Lock()
	g.held--
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}
