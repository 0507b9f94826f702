package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"chatbot/pkg/store"
	"chatbot/pkg/web/ui"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the web tier. Make it with New, serve it with Run (a run.Service) or Serve, and
// end it by cancelling their context or calling Shutdown.
type Server struct {
	opt     Options
	st      *store.Store
	log     *slog.Logger
	met     *metrics
	fanout  *fanout
	ipLim   *ipLimiter
	handler http.Handler

	ctx    context.Context // ends when the server shuts down
	cancel context.CancelFunc
	bg     goroutines // every goroutine but the sockets' readers; waited for by Shutdown
	start  sync.Once

	mu       sync.Mutex
	sockets  map[*socket]struct{}
	stopping bool
	wg       sync.WaitGroup // one per tracked socket (its reader)
	stopOnce sync.Once
}

// New builds a server. It starts nothing: Serve (or Run) starts the notification subscriber
// (one Redis connection) and serves.
func New(opt Options) (*Server, error) {
	if opt.Store == nil {
		return nil, errNoStore
	}
	opt.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opt: opt, st: opt.Store, log: opt.Logger, ipLim: newIPLimiter(opt.SessionsPerMinutePerIP),
		ctx: ctx, cancel: cancel, sockets: map[*socket]struct{}{},
	}
	s.met = newMetrics(opt.Registry, func() float64 { return float64(s.fanout.sub.Subscribed()) })
	s.fanout = newFanout(hubDeps{
		ctx: ctx, st: opt.Store, log: opt.Logger, bg: &s.bg,
		gapReads: s.met.gapReads, joinTimeout: opt.JoinTimeout,
	}, opt.SubscriberName, opt.SocketsPerSession, s.met)
	s.handler = s.routes()
	return s, nil
}

// routes is the route table of docs/PROTOCOL.md.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.createToken)
	mux.HandleFunc("DELETE /token", s.deleteToken)
	mux.HandleFunc("GET /refresh_token", s.refreshToken)
	mux.HandleFunc("POST /refresh_token", s.refreshToken)
	mux.HandleFunc("GET /chat", s.chat)
	mux.HandleFunc("GET /sessions", s.listSessions)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{Registry: s.opt.Registry}))
	mux.HandleFunc("GET /test", s.apiTest)
	mux.Handle("GET /", ui.Handler(ui.Options{FrameAncestors: s.opt.FrameAncestors}))
	return s.cors(mux)
}

// Run listens on Options.Addr and serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opt.Addr)
	if err != nil {
		return fmt.Errorf("listen on server.addr %s: %w", s.opt.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends. Then it stops accepting, closes every socket with 1001
// "server shutting down" (clients reconnect elsewhere and resume), and returns within
// Options.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.start.Do(func() {
		s.bg.Go(func() { s.fanout.sub.Run(s.ctx) })
	})
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       s.opt.ReadTimeout,
		WriteTimeout:      s.opt.ReadTimeout + s.opt.WriteTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    s.opt.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "redis", s.st.Addr())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("serve on %s: %w", ln.Addr(), err)
		served = nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}()
	s.Shutdown(sctx)
	<-httpDone
	if served != nil {
		<-served // http.ErrServerClosed
	}
	s.log.Info("stopped", "addr", ln.Addr().String())
	return err
}

// Shutdown closes every socket with 1001, waits for them until ctx ends (then drops the
// rest), stops the subscriber and waits for every goroutine the server started. The handler
// refuses new sockets from the first call.
func (s *Server) Shutdown(ctx context.Context) {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		socks := make([]*socket, 0, len(s.sockets))
		for sock := range s.sockets {
			socks = append(socks, sock)
		}
		s.mu.Unlock()
		s.cancel()
		for _, sock := range socks {
			sock.closeAsync(websocket.StatusGoingAway, reasonShutdown)
		}
		done := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.mu.Lock()
			left := len(s.sockets)
			for sock := range s.sockets {
				sock.drop()
			}
			s.mu.Unlock()
			s.log.Warn("shutdown timeout: dropped sockets that did not close in time", "sockets", left)
			<-done
		}
		s.bg.wait()
	})
}

// Close shuts down with a short drain: for a server that was built but never served.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

// track counts a new socket; false when shutting down.
func (s *Server) track(sock *socket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.sockets[sock] = struct{}{}
	s.wg.Add(1)
	s.met.socketsOpen.Inc()
	return true
}

func (s *Server) untrack(sock *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sockets[sock]; ok {
		delete(s.sockets, sock)
		s.met.socketsOpen.Dec()
		s.wg.Done()
	}
}

// finish is the end of every tracked socket: out of its hub, out of the server.
func (s *Server) finish(sock *socket) {
	sock.stopExpiry()
	s.fanout.leave(sock)
	s.untrack(sock)
	s.log.Debug("socket closed", "session", tokenHash(sock.token))
}
