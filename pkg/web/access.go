package web

import (
	"bufio"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// The access log: one line per HTTP request ("request") and one per socket when it closes
// ("socket"), with the status or close code, the duration and the bytes, for a share of them
// (log.access_sample). A line names the path without its query and a session by its
// tokenHash: never a token or a JWT.

// sampled says whether this request or socket gets its line.
func (s *Server) sampled() bool {
	switch p := s.opt.AccessSample; {
	case p >= 1:
		return true
	case p <= 0:
		return false
	default:
		return rand.Float64() < p
	}
}

// access logs each HTTP request that is not upgraded (an upgraded one is logged when its
// socket closes, by accessSocket).
func (s *Server) access(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sampled() {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.hijacked {
			return
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
			slog.String("duration", time.Since(start).String()),
			slog.String("client", clientOf(r).String()))
	})
}

// accessSocket logs a socket that ended: the close code (the server's, else the client's;
// 1006 when the connection ended without one), its life and its bytes each way.
func (s *Server) accessSocket(sock *socket) {
	if !s.sampled() {
		return
	}
	sock.mu.Lock()
	code, reason, by := sock.closeCode, sock.closeReason, "server"
	if !sock.closing {
		code, reason, by = sock.peerCode, sock.peerReason, "client"
	}
	sock.mu.Unlock()
	var in, out int64
	if sock.bytes != nil {
		in, out = sock.bytes.in.bytes.Load(), sock.bytes.out.Load()
	}
	s.log.LogAttrs(s.ctx, slog.LevelInfo, "socket",
		slog.String("session", tokenHash(sock.token)), slog.Int("close", int(code)),
		slog.String("reason", reason), slog.String("by", by),
		slog.String("duration", time.Since(sock.opened).String()),
		slog.Int64("bytes_in", in), slog.Int64("bytes_out", out),
		slog.String("client", sock.client.String()))
}

// String is the client's address for logs.
func (c client) String() string {
	if c.addr.IsValid() {
		return c.addr.String()
	}
	return c.key
}

// recorder notes the status and the bytes of a response.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection to coder/websocket: the socket's own line comes at its close.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNotHijacker
	}
	c, brw, err := hj.Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, brw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
