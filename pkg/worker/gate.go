package worker

import (
	"context"
	"sync"
)

// gate is the room a consumer has for requests: it counts those the consumer holds (read and
// not yet done with) against its concurrency, so that every request read has a slot at once
// (none waits in the process for a slot that may not come; those not read yet stay in their
// stream, where any consumer with room takes them). A reader reserves its room before it reads
// and gives back what the read did not fill. (Which requests are held is heldIDs.)
type gate struct {
	mu       sync.Mutex
	held     int // requests held
	reserved int // room reserved by reads in progress
	limit    int
	// starved: a reader found no room since the last time one found some; requests may be
	// waiting in the streams. A session's holder then lets others have its slot (converse).
	starved bool
	wake    chan struct{} // closed (and replaced) whenever room is given back
}

func newGate(limit int) *gate { return &gate{limit: limit, wake: make(chan struct{})} }

// reserve blocks until there is room and reserves the share of it one of parts readers may
// ask for, at least 1; the reader then holds (hold) what it read and gives back the rest
// (unreserve). It returns 0 when ctx
// ends.
func (g *gate) reserve(ctx context.Context, parts int) int {
	for {
		if ctx.Err() != nil {
			return 0
		}
		g.mu.Lock()
		free, wake := g.limit-g.held-g.reserved, g.wake
		if free > 0 {
			n := (free + parts - 1) / parts
			g.reserved += n
			g.starved = false
			g.mu.Unlock()
			return n
		}
		g.starved = true
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0
		}
	}
}

// hold counts one request held, in room reserved for it (reserved) or not (a takeover, in
// room()).
func (g *gate) hold(reserved bool) {
	g.mu.Lock()
	if reserved {
		g.reserved--
	}
	g.held++
	g.mu.Unlock()
}

// unreserve gives back n of the room reserved that no request filled.
func (g *gate) unreserve(n int) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	g.reserved -= n
	g.wakeAll()
	g.mu.Unlock()
}

// isStarved reports whether a reader is waiting for room.
func (g *gate) isStarved() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.starved
}

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// room is how many more requests the consumer may hold, not counting the room reserved by
// reads in progress (a blocking read keeps its reservation for up to Block): what the
// reclaimer may take over. So the consumer may briefly hold a few more than its
// limit (takeovers are rare); those wait for a slot.
func (g *gate) room() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit - g.held
}

// done gives back the room of one request done with.
func (g *gate) done() {
	g.mu.Lock()
	g.held--
	g.wakeAll()
	g.mu.Unlock()
}

// wakeAll wakes the readers waiting for room; call with mu held.
func (g *gate) wakeAll() {
	close(g.wake)
	g.wake = make(chan struct{})
}
