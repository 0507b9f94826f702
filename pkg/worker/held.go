package worker

import (
	"context"
	"sync"
)

// gate counts the requests a consumer holds (read and not yet done with) against its
// concurrency, so readers ask for no more than there is room for.
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

// heldSet is the IDs of the requests a consumer holds, per partition; the keep-alive renews
// those not known to be lost to another consumer.
type heldSet struct {
	mu  sync.Mutex
	ids map[int]map[string]bool // id -> lost
}

// add reports false when id is held already (a request claimed twice by this consumer).
func (h *heldSet) add(p int, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.ids[p]
	if m == nil {
		m = map[string]bool{}
		h.ids[p] = m
	}
	if _, ok := m[id]; ok {
		return false
	}
	m[id] = false
	return true
}

func (h *heldSet) remove(p int, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.ids[p], id)
}

// list is the IDs of partition p still to keep alive.
func (h *heldSet) list(p int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.ids[p]))
	for id, lost := range h.ids[p] {
		if !lost {
			out = append(out, id)
		}
	}
	return out
}

// lost marks the IDs of taken that are still held as lost and returns how many there were.
func (h *heldSet) lost(p int, taken []string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, id := range taken {
		if lost, held := h.ids[p][id]; held && !lost {
			h.ids[p][id] = true
			n++
		}
	}
	return n
}
