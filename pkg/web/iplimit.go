package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// ipLimiter counts requests per client address in fixed one-minute windows
// (limits.sessions_per_minute_per_ip). The address is the connection's peer: behind a load
// balancer put the limit there, or every client shares the balancer's address. Memory stays
// bounded by the addresses seen in the last minute: expired windows are swept at most once
// a minute, on a request.
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

// clientIP is the request's peer address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
