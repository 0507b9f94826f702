package web

import "sync"

// goroutines runs a server's goroutines other than its sockets' readers (the subscriber,
// hubs reading Redis, socket writers and closers) and waits for them on shutdown, so none
// outlives the server.
type goroutines struct {
	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

// Go runs f on a new goroutine. Once wait was called it does nothing: the server has shut
// down, and what f would do no longer matters.
func (g *goroutines) Go(f func()) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.stopped {
		g.wg.Go(f)
	}
}

// wait refuses new goroutines and waits for the running ones.
func (g *goroutines) wait() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}
