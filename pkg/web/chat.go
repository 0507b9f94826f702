package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"

	"github.com/coder/websocket"
)

// chat serves GET /chat: authenticate, join the session's hub, upgrade, replay from
// ?last_id if asked, then hand the socket to its reader goroutine and return (the HTTP
// handler's goroutine and stack do not stay behind for an idle socket). The hub is joined
// before the upgrade completes, so every event written after the client sees the upgrade
// reaches it.
//
// Refusals come after the upgrade, as close codes, because a browser cannot read the HTTP
// status of a failed upgrade: 1008 for a bad, expired or deleted token (reason "Session not
// authenticated or expired token"; with auth.mode jwt also another user's token) or too many
// sockets, 1008 "Authentication required" for a missing or refused JWT (auth.mode jwt), 1013
// when Redis is unavailable. Only a foreign Origin is refused before it (403).
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		writeJSON(w, http.StatusServiceUnavailable, detail("Server shutting down: reconnect"))
		return
	}
	q := r.URL.Query()
	token := q.Get("token")
	if token == "" && s.opt.Auth == nil {
		token, _ = bearer(r) // with auth.mode jwt the header carries the JWT
	}
	sock := &socket{srv: s, token: token, stream: q.Get("stream") == "1" || q.Get("stream") == "true",
		client: clientOf(r), opened: time.Now(), trace: upgradeTrace(r, s.opt.Tracer != nil)}
	if status, msg := s.reserve(sock); status != 0 {
		refuse(w, status, msg)
		return
	}
	tracked := false
	defer func() {
		if !tracked {
			s.release(sock)
		}
	}()
	var code websocket.StatusCode
	var reason, from string
	var resume bool
	var id auth.Identity
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, r.Host, clientOf(r).proto, s.opt.AllowedOrigins) {
		s.log.Debug("websocket upgrade refused: origin not allowed", "origin", origin)
		writeJSON(w, http.StatusForbidden, detail("Origin not allowed"))
		return
	}
	var err error
	if s.opt.Auth != nil {
		id, err = s.verify(r.Context(), r.Header, true)
		sock.user = id.User
	}
	if err != nil {
		code, reason = websocket.StatusPolicyViolation, reasonAuthRequired
	} else {
		code, reason, from, resume = s.admit(r.Context(), sock, q)
	}

	hw := &hijackWatch{ResponseWriter: w, meter: func(r io.Reader) *frameMeter {
		return newFrameMeter(r, s.opt.FramesPerSecond, s.opt.FragmentsPerMessage, sock.flooded)
	}}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		// A browser sends its JWT as the subprotocol pair "chatbot, bearer.<jwt>": the
		// answer names only "chatbot", so the token never comes back.
		Subprotocols:    []string{auth.Subprotocol},
		OriginPatterns:  s.opt.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept answered with the HTTP error (403 for a foreign Origin).
		s.log.Debug("websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		s.fanout.leave(sock)
		return
	}
	conn.SetReadLimit(int64(s.opt.MaxMessageBytes))
	sock.bytes = hw.mc
	tracked = s.track(sock)
	if !tracked {
		s.fanout.leave(sock)
		conn.Close(websocket.StatusGoingAway, reasonShutdown)
		return
	}
	if code != 0 {
		sock.markClosing(code, reason)
	}
	if !sock.attach(conn, hw.conn) {
		s.finish(sock)
		return
	}
	if resume {
		if err := s.replay(s.ctx, sock, from); err != nil {
			s.log.Warn("replaying a session failed", "session", tokenHash(token), "err", err)
			s.reject(sock, websocket.StatusTryAgainLater, reasonBusy)
			return
		}
	}
	sock.resume()
	sock.schedulePing()
	if s.opt.Auth != nil {
		sock.watchExpiry(id.ValidUntil)
	}
	s.log.Debug("socket open", "session", tokenHash(token), "stream", sock.stream, "resume", resume)
	go sock.readLoop()
}

// admit checks the token and joins the session's hub; a non-zero code is the close the
// socket gets instead. The socket stays paused (frames queue) until it is attached.
func (s *Server) admit(ctx context.Context, sock *socket, q url.Values) (code websocket.StatusCode, reason, from string, resume bool) {
	if !chat.ValidToken(sock.token) {
		return websocket.StatusPolicyViolation, reasonAuth, "", false
	}
	var exists bool
	var err error
	if s.opt.Auth == nil {
		exists, err = s.st.SessionExists(ctx, sock.token)
	} else {
		exists, err = s.st.IsSessionOf(ctx, sock.user, sock.token)
	}
	if err != nil {
		s.log.Warn("checking a session failed", "session", tokenHash(sock.token), "err", err)
		return websocket.StatusTryAgainLater, reasonBusy, "", false
	}
	if !exists {
		return websocket.StatusPolicyViolation, reasonAuth, "", false
	}
	sock.pause()
	if lastID := q.Get("last_id"); lastID != "" {
		if chat.ValidID(lastID) {
			from, resume = lastID, true
		} else {
			sock.sendError(chat.CodeBadFrame, fmt.Sprintf("last_id %.48q is not an offset (want MS-SEQ, as in a frame's offset): live events only", lastID), "")
		}
	}
	jctx, cancel := context.WithTimeout(s.ctx, s.opt.JoinTimeout)
	defer cancel()
	switch err := s.fanout.join(jctx, sock, from); {
	case err == nil:
		return 0, "", from, resume
	case errors.Is(err, errTooManySockets):
		return websocket.StatusPolicyViolation, fmt.Sprintf("Too many sockets open for this session (limit %d)", s.opt.SocketsPerSession), "", false
	case errors.Is(err, errSessionGone):
		return websocket.StatusPolicyViolation, reasonDeleted, "", false
	default:
		s.log.Warn("joining a session failed", "session", tokenHash(sock.token), "err", err)
		return websocket.StatusTryAgainLater, reasonBusy, "", false
	}
}

// reject closes a socket that never started reading.
func (s *Server) reject(sock *socket, code websocket.StatusCode, reason string) {
	sock.closeSync(code, reason)
	s.finish(sock)
}

// replay writes the events after from straight to the socket (its queue holds live events
// meanwhile), then leaves sock.sent at the newest it wrote. Events trimmed away are
// reported with a history_truncated error frame, followed by every event still kept.
func (s *Server) replay(ctx context.Context, sock *socket, from string) error {
	truncated, err := s.st.Truncated(ctx, sock.token, from)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.opt.WriteTimeout)
	defer cancel()
	if truncated {
		ev := chat.ErrorEvent(chat.CodeHistoryTruncated, msgTruncated, "")
		data, _ := chat.Marshal(ev)
		s.met.errors.WithLabelValues(ev.Code).Inc()
		if err := sock.conn.Write(wctx, websocket.MessageText, data); err != nil {
			return err
		}
		s.met.frameOut(chat.FrameError)
		from = ""
	}
	read := 0
	for {
		entries, err := s.st.ReadEvents(ctx, sock.token, from, pageSize)
		if err != nil {
			return err
		}
		read += len(entries)
		for _, e := range entries {
			if chat.CompareIDs(e.ID, sock.sent) <= 0 || (chat.Streaming(e.Type) && !sock.stream) {
				continue
			}
			if err := sock.conn.Write(wctx, websocket.MessageText, e.Frame()); err != nil {
				return err
			}
			s.met.frameOut(e.Type)
			sock.sent = e.ID
		}
		if len(entries) < pageSize {
			break
		}
		from = entries[len(entries)-1].ID
	}
	if read == 0 && sock.sent != "" {
		// An offset from the future (no event after it) would hold every new event back.
		tail, err := s.st.LastEventID(ctx, sock.token)
		if err != nil {
			return err
		}
		if chat.CompareIDs(sock.sent, tail) > 0 {
			sock.sent = tail
		}
	}
	return nil
}

// hijackWatch keeps the connection coder/websocket hijacks, so the server can force it shut
// when the shutdown deadline passes, and swaps net/http's 4 KiB read and write buffers for
// small ones: they stay with the socket for its whole life, and an idle socket needs almost
// none (larger frames bypass a bufio buffer anyway).
//
// coder/websocket reads from the connection it is handed (past the bufio.Reader's buffered
// bytes), so the connection handed over is a meteredConn: every byte the client sends, those
// that came with the handshake first, goes through the socket's frameMeter, and every byte
// written is counted for the access log.
type hijackWatch struct {
	http.ResponseWriter
	conn  net.Conn
	meter func(io.Reader) *frameMeter
	mc    *meteredConn
}

// meteredConn is a socket's connection as coder/websocket sees it.
type meteredConn struct {
	net.Conn
	in     *frameMeter
	out    atomic.Int64
	linger sync.Once
}

func (c *meteredConn) Read(p []byte) (int, error) {
	if c.in.err != nil {
		// The socket flooded and its close frame is out (coder/websocket writes it before
		// reading again): discard what the client still sends for a moment before the
		// connection is shut, since closing on unread bytes resets the connection, which can
		// destroy the close frame before the client reads it.
		c.linger.Do(c.discard)
		return 0, c.in.err
	}
	return c.in.Read(p)
}

// discard reads and drops what a flooding client sends for floodLinger, one buffer every
// floodPace: TCP flow control then holds the client back, at almost no CPU.
func (c *meteredConn) discard() {
	deadline := time.Now().Add(floodLinger)
	c.Conn.SetReadDeadline(deadline)
	buf := make([]byte, 32<<10)
	for time.Now().Before(deadline) {
		if _, err := c.Conn.Read(buf); err != nil {
			return
		}
		time.Sleep(floodPace)
	}
}

// floodLinger is how long a flooding socket's bytes are discarded after its close frame, and
// floodPace the pause between two reads then.
const (
	floodLinger = 500 * time.Millisecond
	floodPace   = 20 * time.Millisecond
)

func (c *meteredConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// Buffer sizes of a socket: most frames fit in one write; client frames are small.
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 1024
)

func (h *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNotHijacker
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = c
	if err := brw.Writer.Flush(); err != nil {
		return nil, nil, err
	}
	// What the client sent right after the handshake is read first, through the meter.
	var src io.Reader = c
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(b)), c)
	}
	h.mc = &meteredConn{Conn: c, in: h.meter(src)}
	return h.mc, bufio.NewReadWriter(bufio.NewReaderSize(h.mc, socketReadBuffer), bufio.NewWriterSize(h.mc, socketWriteBuffer)), nil
}

func (h *hijackWatch) Unwrap() http.ResponseWriter { return h.ResponseWriter }
