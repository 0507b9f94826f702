package devredis

import (
	"fmt"

	"chatbot/pkg/store"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// Server is an in-memory Redis listening on a loopback port. It is safe for concurrent use.
type Server struct {
	mr *miniredis.Miniredis
}

// Start starts an empty in-memory Redis on a free port of 127.0.0.1.
//
// Two differences from a real Redis are smoothed over here, so the store works unchanged:
//
//   - TTLs follow the wall clock (miniredis' ClockTTL). Without it miniredis only expires
//     keys when told to (FastForward), and sessions would never expire. Expired keys are
//     dropped lazily, on the next command that touches the database: a client never sees an
//     expired key again, which is all Redis promises too.
//   - The server speaks RESP2 only (HELLO is answered as an unknown command). On RESP3,
//     rueidis runs SUBSCRIBE on the same connection as every other command, which a real
//     Redis allows but miniredis refuses ("only (P)SUBSCRIBE / ... are allowed in this
//     context"), so one subscription would break the whole client. On RESP2, rueidis opens a
//     separate connection for pub/sub.
func Start() (*Server, error) {
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	mr.Server().SetPreHook(refuseHello)
	return &Server{mr: mr}, nil
}

// refuseHello answers HELLO as a server before Redis 6 would, which makes rueidis fall back to
// RESP2. Every other command goes on to miniredis.
func refuseHello(c *server.Peer, cmd string, _ ...string) bool {
	if cmd != "HELLO" {
		return false
	}
	c.WriteError("ERR unknown command 'HELLO', with args beginning with: ")
	return true
}

// Addr is the host:port it listens on.
func (s *Server) Addr() string { return s.mr.Addr() }

// URL is the redis:// URL to reach it.
func (s *Server) URL() string { return "redis://" + s.mr.Addr() + "/0" }

// StoreOptions returns opt pointed at this server: its URL, and Embedded set (no client-side
// cache, one plain connection type: what miniredis supports).
func (s *Server) StoreOptions(opt store.Options) store.Options {
	opt.URL = s.URL()
	opt.Embedded = true
	return opt
}

// Close stops the server and drops every key.
func (s *Server) Close() { s.mr.Close() }
