package web

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"
)

// reasonPongTimeout is what the metrics and the access log say of a socket dropped for a late
// pong; the client, gone or stuck, gets no close frame (1006).
const reasonPongTimeout = "No pong within server.pong_timeout"

// Sockets are pinged every server.ping_interval, so a load balancer does not cut a quiet
// socket as idle, and a client that vanished (a laptop closed, a phone out of coverage) is
// found: a ping whose pong does not come within server.pong_timeout drops the connection.
// A socket holds no goroutine between pings: a timer starts one for each ping.

// schedulePing arms the next ping, unless the socket has ended.
func (s *socket) schedulePing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.closing {
		return
	}
	s.pinger = time.AfterFunc(s.srv.opt.PingInterval, func() { s.srv.bg.Go(s.ping) })
}

// ping sends one ping and waits for its pong (the reader receives it).
func (s *socket) ping() {
	ctx, cancel := context.WithTimeout(s.srv.ctx, s.srv.opt.PongTimeout)
	defer cancel()
	err := s.conn.Ping(ctx)
	switch {
	case err == nil:
		s.schedulePing()
	case s.srv.ctx.Err() != nil:
		// Shutting down: Shutdown closes the socket.
	case errors.Is(err, context.DeadlineExceeded):
		if s.markClosing(websocket.StatusAbnormalClosure, reasonPongTimeout) != nil {
			s.srv.log.Debug("dropping a socket whose pong is late", "session", tokenHash(s.token), "client", s.client.addr)
			s.drop()
		}
	}
	// Any other error: the connection is closed already, and the reader cleans up.
}

// stopPings ends the pings of a socket that ends.
func (s *socket) stopPings() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.pinger != nil {
		s.pinger.Stop()
	}
}
