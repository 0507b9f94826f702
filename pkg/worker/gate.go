package worker

import (
	"context"
	"slices"
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
	// waiting: the readers waiting for room, first come first served. A reader whose read came
	// back empty and asks again queues behind them, so with fewer slots than partitions every
	// partition is read in turn (none keeps the room by asking again first).
	waiting []chan struct{}
}

func newGate(limit int) *gate { return &gate{limit: limit} }

// reserve blocks until there is room and this reader is the first waiting, and reserves the
// share of the room one of parts readers may ask for, at least 1; the reader then holds (hold)
// what it read and gives back the rest (unreserve). It returns 0 when ctx ends.
func (g *gate) reserve(ctx context.Context, parts int) int {
	var turn chan struct{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		free := g.limit - g.held - g.reserved
		if free > 0 && (len(g.waiting) == 0 || g.waiting[0] == turn) {
			if turn != nil {
				g.waiting = g.waiting[1:]
			}
			n := (free + parts - 1) / parts
			g.reserved += n
			g.starved = false
			g.wakeNext() // room may be left for the next one
			return n
		}
		g.starved = true
		if turn == nil {
			turn = make(chan struct{}, 1)
			g.waiting = append(g.waiting, turn)
		}
		g.mu.Unlock()
		select {
		case <-turn:
			g.mu.Lock()
		case <-ctx.Done():
			g.mu.Lock()
			g.waiting = slices.DeleteFunc(g.waiting, func(c chan struct{}) bool { return c == turn })
			g.wakeNext() // the turn this reader may have been given passes on
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
	g.wakeNext()
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
	g.wakeNext()
	g.mu.Unlock()
}

// wakeNext gives the first reader waiting its turn when there is room; call with mu held.
func (g *gate) wakeNext() {
	if len(g.waiting) == 0 || g.limit-g.held-g.reserved <= 0 {
		return
	}
	select {
	case g.waiting[0] <- struct{}{}:
	default: // it has its turn already
	}
}
