package web

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// The memory guard (limits.redis_memory_high). A Redis at its maxmemory fails every write
// (noeviction) or evicts sessions' keys, so before that the web tier stops taking new work:
// above the share limits.redis_memory_high of maxmemory (the fullest node of a cluster), a new
// session gets 503 and a new message the error frame unavailable, and neither is kept. What
// is already queued is answered (the workers are not held back: the share left is for the
// replies in flight), and chat resumes by itself once memory is freed (sessions expire, an
// operator raises maxmemory). Redis's memory is sampled in the background, every
// Options.MemoryCheckInterval (store.Store.Memory), never per request; a Redis without maxmemory has nothing to
// compare with, and the guard stays off (one log line says so).

// msgFull is what a refused session or message is told.
const msgFull = "The service is full, try again later"

// retryAfterMemory is the Retry-After of a session refused by the guard, in seconds.
const retryAfterMemory = 30

// memState is what the guard last saw, so each change is logged once.
type memState int

const (
	memUnknown memState = iota
	memOK
	memFull
	memNoMax
	memFailing
)

// watchMemory samples Redis's memory until ctx ends. Owned by s.bg.
func (s *Server) watchMemory(ctx context.Context) {
	tick := time.NewTicker(s.opt.MemoryCheckInterval)
	defer tick.Stop()
	state := memUnknown
	for {
		state = s.checkMemory(ctx, state)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkMemory samples once, sets the guard and the gauge, and logs a change of state.
func (s *Server) checkMemory(ctx context.Context, was memState) memState {
	m, err := s.st.Memory(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return was
		}
		// Redis down: the requests fail by themselves; the guard keeps its last answer.
		if was != memFailing {
			s.log.Warn("reading Redis's memory failed: the memory guard (limits.redis_memory_high) keeps its last state until it works again",
				"err", err, "full", s.memFull.Load())
		}
		return memFailing
	}
	s.met.redisMemory.Set(m.Ratio())
	now := memOK
	switch {
	case m.Max == 0:
		now = memNoMax
	case m.Ratio() >= s.opt.RedisMemoryHigh:
		now = memFull
	}
	s.memFull.Store(now == memFull)
	if now == was {
		return now
	}
	attrs := []any{"node", m.Node, "used_memory", m.Used, "maxmemory", m.Max,
		"ratio", strconv.FormatFloat(m.Ratio(), 'f', 3, 64), "redis_memory_high", s.opt.RedisMemoryHigh}
	switch {
	case now == memFull:
		s.log.Warn("Redis is nearly full: refusing new sessions and messages until memory is freed", attrs...)
	case now == memNoMax:
		s.log.Info("Redis has no maxmemory: the memory guard (limits.redis_memory_high) is off", "node", m.Node, "used_memory", m.Used)
	case was == memFull:
		s.log.Info("Redis memory back under limits.redis_memory_high: accepting new sessions and messages", attrs...)
	}
	return now
}

// full reports whether the guard refuses new work now.
func (s *Server) full() bool { return s.memFull.Load() }

// refuseFull answers a POST /token refused by the guard.
func (s *Server) refuseFull(w http.ResponseWriter) {
	s.met.memRefused.WithLabelValues("session").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterMemory))
	writeJSON(w, http.StatusServiceUnavailable, detail(msgFull))
}
