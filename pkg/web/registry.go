package web

import (
	"context"
	"sync"

	"chatbot/pkg/chat"
)

// registry is the set of hubs of a Server, one per session with sockets here, and the
// subscriptions that go with them.
type registry struct {
	srv *Server

	mu   sync.RWMutex
	hubs map[string]*hub
}

func newRegistry(srv *Server) *registry {
	return &registry{srv: srv, hubs: map[string]*hub{}}
}

// join adds a socket to its session's hub, subscribing when it is the session's first here,
// and waits until the hub is live. from is the offset the socket resumes after ("" for only
// new events): events after it that the hub delivers from now on reach the socket.
func (r *registry) join(ctx context.Context, s *socket, from string) error {
	h, err := r.acquire(s.token)
	if err != nil {
		return err
	}
	s.hub = h
	select {
	case <-h.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if h.err != nil {
		return h.err
	}
	return h.add(s, from)
}

// acquire counts a socket in its session's hub, making the hub if needed.
func (r *registry) acquire(token string) (*hub, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hubs[token]
	if h == nil {
		h = &hub{token: token, reg: r, ready: make(chan struct{}), busy: true}
		r.hubs[token] = h
		r.srv.met.sessions.Inc()
		go h.start(r.srv.sub.Subscribe(token))
	}
	if h.count >= r.srv.opt.SocketsPerSession {
		return nil, errTooManySockets
	}
	h.count++
	return h, nil
}

// leave takes a socket out of its hub; the last one out ends the hub and its subscription.
func (r *registry) leave(s *socket) {
	h := s.hub
	if h == nil {
		return
	}
	h.remove(s)
	r.mu.Lock()
	h.count--
	end := h.count == 0
	if end {
		r.unmap(h)
	}
	r.mu.Unlock()
	if end {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
	}
}

// drop removes a hub that failed to start.
func (r *registry) drop(h *hub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unmap(h)
}

// unmap removes a hub and unsubscribes, unless a newer hub took its place. Called with mu
// held, so a Subscribe and an Unsubscribe of one session never cross.
func (r *registry) unmap(h *hub) {
	if r.hubs[h.token] == h {
		delete(r.hubs, h.token)
		r.srv.met.sessions.Dec()
		r.srv.sub.Unsubscribe(h.token)
	}
}

// notify routes a notification to its session's hub (the subscriber's OnNotify).
func (r *registry) notify(token string, n chat.Notification) {
	r.mu.RLock()
	h := r.hubs[token]
	r.mu.RUnlock()
	if h != nil {
		h.notify(n)
	}
}

// resync makes every hub read what it may have missed (the subscriber's OnResubscribe).
func (r *registry) resync() {
	r.srv.met.resubscribe.Inc()
	r.mu.RLock()
	hubs := make([]*hub, 0, len(r.hubs))
	for _, h := range r.hubs {
		hubs = append(hubs, h)
	}
	r.mu.RUnlock()
	for _, h := range hubs {
		h.resync()
	}
}
