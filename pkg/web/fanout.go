package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"

	"github.com/prometheus/client_golang/prometheus"
)

// fanout delivers each session's events to the sockets this process holds for it: one
// subscriber (one Redis connection) for every session, and one hub per session with sockets
// here, subscribed while it has any.
type fanout struct {
	hubDeps
	sub         *store.Subscriber
	limit       int              // sockets per session (limits.sockets_per_session)
	sessions    prometheus.Gauge // hubs
	resubscribe prometheus.Counter

	mu   sync.RWMutex
	hubs map[string]*hub
}

// hubDeps is what every hub uses, handed down by the server.
type hubDeps struct {
	ctx         context.Context // ends when the server shuts down
	st          *store.Store
	log         *slog.Logger
	bg          *goroutines // the server's: a hub's goroutines end before Shutdown returns
	gapReads    prometheus.Counter
	joinTimeout time.Duration
	tracing     bool // Options.Tracer is set: read the traceparent of reply events (trace.go)
}

// newFanout returns a fanout and its subscriber; nothing runs until the caller runs f.sub.
func newFanout(deps hubDeps, subscriberName string, limit int, met *metrics) *fanout {
	f := &fanout{hubDeps: deps, limit: limit, sessions: met.sessions, resubscribe: met.resubscribe, hubs: map[string]*hub{}}
	f.sub = deps.st.NewSubscriber(store.SubscriberOptions{
		OnNotify:      f.notify,
		OnResubscribe: f.resync,
		ClientName:    subscriberName,
		Logger:        deps.log,
	})
	return f
}

// join adds a socket to its session's hub, subscribing when it is the session's first here,
// and waits until the hub is live. from is the offset the socket resumes after ("" for only
// new events): events after it that the hub delivers from now on reach the socket.
func (f *fanout) join(ctx context.Context, s *socket, from string) error {
	h, err := f.acquire(s.token)
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
func (f *fanout) acquire(token string) (*hub, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hubs[token]
	if h == nil {
		h = &hub{hubDeps: &f.hubDeps, fan: f, token: token, ready: make(chan struct{}), busy: true}
		f.hubs[token] = h
		f.sessions.Inc()
		subscribed := f.sub.Subscribe(token)
		f.bg.Go(func() { h.start(subscribed) })
	}
	if h.count >= f.limit {
		return nil, errTooManySockets
	}
	h.count++
	return h, nil
}

// leave takes a socket out of its hub; the last one out ends the hub and its subscription.
func (f *fanout) leave(s *socket) {
	h := s.hub
	if h == nil {
		return
	}
	h.remove(s)
	f.mu.Lock()
	h.count--
	end := h.count == 0
	if end {
		f.unmap(h)
	}
	f.mu.Unlock()
	if end {
		h.mu.Lock()
		h.closed = true
		if h.expiry != nil {
			h.expiry.Stop()
		}
		h.mu.Unlock()
	}
}

// drop removes a hub that failed to start.
func (f *fanout) drop(h *hub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unmap(h)
}

// unmap removes a hub and unsubscribes, unless a newer hub took its place. Called with mu
// held, so a Subscribe and an Unsubscribe of one session never cross.
func (f *fanout) unmap(h *hub) {
	if f.hubs[h.token] == h {
		delete(f.hubs, h.token)
		f.sessions.Dec()
		f.sub.Unsubscribe(h.token)
	}
}

// notify routes a notification to its session's hub (the subscriber's OnNotify).
func (f *fanout) notify(token string, n chat.Notification) {
	f.mu.RLock()
	h := f.hubs[token]
	f.mu.RUnlock()
	if h != nil {
		h.notify(n)
	}
}

// resync makes every hub read what it may have missed (the subscriber's OnResubscribe).
func (f *fanout) resync() {
	f.resubscribe.Inc()
	f.mu.RLock()
	hubs := make([]*hub, 0, len(f.hubs))
	for _, h := range f.hubs {
		hubs = append(hubs, h)
	}
	f.mu.RUnlock()
	for _, h := range hubs {
		h.resync()
	}
}
