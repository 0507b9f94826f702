package web

import (
	"sync"
	"time"
)

// ipLimiter counts events per client address in fixed one-minute windows
// (limits.sessions_per_minute_per_ip, limits.messages_per_minute_per_ip), in this process. The
// address is the client's limit key (clientOf: behind server.trusted_proxies the forwarded
// one; IPv6 per /64). A limit of 0 or less allows everything. Memory stays bounded by the
// addresses seen in the last minute: expired windows are swept at most once a minute, on a
// request.
type ipLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	seen  map[string]*ipWindow
	swept time.Time
}

type ipWindow struct {
	start time.Time
	n     int
}

func newIPLimiter(limit int) *ipLimiter {
	return &ipLimiter{limit: limit, window: time.Minute, now: time.Now, seen: map[string]*ipWindow{}}
}

// allow counts one request from the address; when over the limit it reports how long
// until the window ends.
func (l *ipLimiter) allow(addr string) (bool, time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.window {
		for k, w := range l.seen {
			if now.Sub(w.start) >= l.window {
				delete(l.seen, k)
			}
		}
		l.swept = now
	}
	w := l.seen[addr]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &ipWindow{start: now}
		l.seen[addr] = w
	}
	if w.n >= l.limit {
		return false, w.start.Add(l.window).Sub(now)
	}
	w.n++
	return true, 0
}
