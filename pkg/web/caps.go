package web

import (
	"fmt"
	"net/http"
	"strconv"
)

// Open sockets are capped per client address (limits.sockets_per_ip, IPv6 per /64) and in
// total (limits.max_sockets, by default 90% of the open-file limit), and refused before the
// upgrade: an HTTP answer costs no hub, no Redis call and no goroutine, and the process keeps
// the files it needs to answer /healthz, /readyz and /test and to reach Redis.

// retryAfterFull is the Retry-After of a socket refused at a cap, in seconds.
const retryAfterFull = 5

// reserve takes a place for a socket under both caps; a non-zero status is the refusal.
func (s *Server) reserve(sock *socket) (status int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sock.client.key
	switch {
	case s.opt.MaxSockets > 0 && s.reserved >= s.opt.MaxSockets:
		s.met.refused.WithLabelValues("max_sockets").Inc()
		return http.StatusServiceUnavailable, "Server full: too many sockets open on this server, try again later"
	case s.opt.SocketsPerIP > 0 && s.perIP[key] >= s.opt.SocketsPerIP:
		s.met.refused.WithLabelValues("sockets_per_ip").Inc()
		return http.StatusTooManyRequests, fmt.Sprintf("Too many sockets open from this address (limit %d)", s.opt.SocketsPerIP)
	}
	s.reserved++
	s.perIP[key]++
	sock.reserved = true
	return 0, ""
}

// release gives a socket's place back; once only.
func (s *Server) release(sock *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sock.reserved {
		return
	}
	sock.reserved = false
	s.reserved--
	key := sock.client.key
	if s.perIP[key]--; s.perIP[key] <= 0 {
		delete(s.perIP, key)
	}
}

// refuse answers an upgrade refused at a cap, and closes the connection: kept alive, it would
// hold the file the cap is there to keep free.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterFull))
	writeJSON(w, status, detail(msg))
}
