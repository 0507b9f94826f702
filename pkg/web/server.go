package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
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
	ipLim   *ipLimiter  // limits.sessions_per_minute_per_ip
	msgLim  *ipLimiter  // limits.messages_per_minute_per_ip
	memFull atomic.Bool // limits.redis_memory_high: Redis is nearly full (memguard.go)
	handler http.Handler
	admin   http.Handler // server.admin_addr's routes; nil without one

	ctx    context.Context // ends when the server shuts down
	cancel context.CancelFunc
	bg     goroutines // every goroutine but the sockets' readers; waited for by Shutdown
	start  sync.Once

	mu       sync.Mutex
	sockets  map[*socket]struct{}
	reserved int            // sockets holding a place under limits.max_sockets (caps.go)
	perIP    map[string]int // and under limits.sockets_per_ip, by client key
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
		msgLim: newIPLimiter(opt.MessagesPerMinutePerIP),
		ctx:    ctx, cancel: cancel, sockets: map[*socket]struct{}{}, perIP: map[string]int{},
	}
	s.met = newMetrics(opt.Registry, func() float64 { return float64(s.fanout.sub.Subscribed()) })
	s.fanout = newFanout(hubDeps{
		ctx: ctx, st: opt.Store, log: opt.Logger, bg: &s.bg,
		gapReads: s.met.gapReads, joinTimeout: opt.JoinTimeout, tracing: opt.Tracer != nil,
	}, opt.SubscriberName, opt.SocketsPerSession, s.met)
	s.handler = s.routes()
	if opt.AdminAddr != "" {
		s.admin = s.adminRoutes()
	}
	return s, nil
}

// routes is the route table of docs/PROTOCOL.md. With server.admin_addr, /metrics and
// /readyz are served there instead.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.createToken)
	mux.HandleFunc("DELETE /token", s.deleteToken)
	mux.HandleFunc("GET /refresh_token", s.refreshToken)
	mux.HandleFunc("POST /refresh_token", s.refreshToken)
	mux.HandleFunc("GET /chat", s.chat)
	mux.HandleFunc("GET /sessions", s.listSessions)
	mux.HandleFunc("GET /usage", s.usage)
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.opt.AdminAddr == "" {
		mux.HandleFunc("GET /readyz", s.readyz(false))
		mux.Handle("GET /metrics", s.metricsHandler())
	}
	mux.HandleFunc("GET /test", s.apiTest)
	mux.Handle("GET /", ui.Handler(ui.Options{FrameAncestors: s.opt.FrameAncestors}))
	return s.edge(s.access(s.cors(mux)))
}

// adminRoutes are the routes of server.admin_addr, a port for the operator only: /readyz
// there says which Redis does not answer.
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz(true))
	mux.Handle("GET /metrics", s.metricsHandler())
	return mux
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{Registry: s.opt.Registry})
}

// Run listens on Options.Addr and serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opt.Addr)
	if err != nil {
		return fmt.Errorf("listen on server.addr %s: %w", s.opt.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (and on Options.AdminAddr, when set) until ctx ends. Then it stops
// accepting, closes every socket with 1001 "server shutting down" (clients reconnect
// elsewhere and resume), and returns within Options.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var admin net.Listener
	if s.admin != nil {
		var err error
		if admin, err = net.Listen("tcp", s.opt.AdminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen on server.admin_addr %s: %w", s.opt.AdminAddr, err)
		}
	}
	s.start.Do(func() {
		s.bg.Go(func() { s.fanout.sub.Run(s.ctx) })
		if s.opt.RedisMemoryHigh > 0 {
			s.bg.Go(func() { s.watchMemory(s.ctx) })
		}
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
	if admin != nil {
		as := &http.Server{
			Handler: s.admin, ReadHeaderTimeout: s.opt.ReadHeaderTimeout, ReadTimeout: s.opt.ReadTimeout,
			WriteTimeout: s.opt.ReadTimeout + s.opt.WriteTimeout, IdleTimeout: s.opt.IdleTimeout,
			MaxHeaderBytes: s.opt.MaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		s.log.Info("serving /metrics and /readyz", "admin_addr", admin.Addr().String())
		adminDone := make(chan struct{})
		go func() {
			defer close(adminDone)
			_ = as.Serve(admin)
		}()
		defer func() {
			as.Close()
			<-adminDone
		}()
	}
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
	sock.stopPings()
	s.fanout.leave(sock)
	s.untrack(sock)
	s.release(sock)
	s.accessSocket(sock)
}
