package web

import (
	"context"
	"net"
	"sync"
	"time"

	"chatbot/pkg/chat"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/trace"
)

// Close reasons. Reasons are at most 123 bytes.
const (
	reasonAuth     = "Session not authenticated or expired token"
	reasonDeleted  = "Session deleted"
	reasonShutdown = "server shutting down"
	reasonSlow     = "Too slow reading: reconnect with ?last_id=OFFSET to resume"
	reasonBinary   = "Binary frames are not supported: send text"
	reasonBusy     = "Service unavailable: try again later"
)

// outFrame is one frame waiting to be written. id is the event's offset ("" for an error
// frame about a client frame, which is never filtered).
type outFrame struct {
	id    string
	typ   string
	data  []byte
	trace string // the event's traceparent (delta and message events, with tracing on)
}

// socket is one WebSocket of a session. Its reader goroutine owns its life; a writer
// goroutine (of the server's goroutines) runs only while frames are queued.
type socket struct {
	srv    *Server
	conn   *websocket.Conn
	raw    net.Conn // the hijacked connection, to force it shut at the shutdown deadline
	token  string
	user   string // the JWT's sub (auth.mode jwt), "" with auth.mode none
	stream bool   // ?stream=1: also ack and delta frames
	hub    *hub
	client client    // who opened it (per-address limits, the access log)
	opened time.Time // for the access log
	// bytes counts the bytes of the connection each way (the access log).
	bytes *meteredConn
	// limitedUntil is when the rate limit the socket was last told of ends: until then its
	// messages are refused here, without a Redis call (only the reader touches it).
	limitedUntil time.Time
	limitedMsg   string
	// trace is the client's trace from the upgrade's traceparent header (invalid: none); its
	// messages join it unless their frame names another.
	trace trace.SpanContext
	// lastTrace is the traceparent of the last delta delivered (trace.go): a reply's first
	// delta is a delivery span. Only the writer touches it.
	lastTrace string

	mu      sync.Mutex
	queue   []outFrame
	queued  int  // bytes in queue
	writing bool // a writer goroutine is running
	paused  bool // a replay is writing directly; queue until it ends
	closing bool
	// closeCode and closeReason are the first close asked for.
	closeCode   websocket.StatusCode
	closeReason string
	// peerCode and peerReason are the client's close (1006: none), for the access log.
	peerCode   websocket.StatusCode
	peerReason string
	// sent is the offset of the newest event written. Only the writer (or the replay, while
	// paused) touches it; the mutex hands it over between them.
	sent string
	// expiry closes the socket when its JWT expires (auth.mode jwt).
	expiry *time.Timer
	// pinger sends the next ping (ping.go); ended stops it for good.
	pinger *time.Timer
	ended  bool
	// reserved says the socket holds a place under the caps (caps.go); guarded by the
	// server's mu.
	reserved bool
}

// enqueue queues a frame for the writer, or closes a socket that cannot keep up (1013).
func (s *socket) enqueue(f outFrame) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.srv.opt.SendQueueFrames || s.queued+len(f.data) > s.srv.opt.SendQueueBytes {
		s.mu.Unlock()
		s.srv.log.Info("closing a socket that does not keep up", "session", tokenHash(s.token))
		s.closeSlow()
		return
	}
	s.queue = append(s.queue, f)
	s.queued += len(f.data)
	start := !s.writing && !s.paused
	if start {
		s.writing = true
	}
	s.mu.Unlock()
	if start {
		s.srv.bg.Go(s.flush)
	}
}

// sendError queues an error frame about a client frame.
func (s *socket) sendError(code, msg, clientID string) {
	ev := chat.ErrorEvent(code, msg, "")
	ev.ClientID = clientID
	s.sendEvent(ev)
}

// sendEvent queues a frame of this socket's own (not an event of the session's stream).
func (s *socket) sendEvent(ev chat.Event) {
	data, _ := chat.Marshal(ev)
	if ev.Type == chat.FrameError {
		s.srv.met.errors.WithLabelValues(ev.Code).Inc()
	}
	s.enqueue(outFrame{typ: ev.Type, data: data})
}

// flush writes queued frames until the queue is empty, then ends.
func (s *socket) flush() {
	for {
		s.mu.Lock()
		batch := s.queue
		if len(batch) == 0 || s.closing {
			s.writing = false
			s.queue, s.queued = nil, 0
			s.mu.Unlock()
			return
		}
		s.queue, s.queued = nil, 0
		s.mu.Unlock()
		if err := s.write(batch); err != nil {
			// The connection is closed on any write error; the reader sees it and cleans up.
			s.mu.Lock()
			s.writing = false
			s.queue, s.queued = nil, 0
			s.mu.Unlock()
			return
		}
	}
}

// write writes frames in order, skipping events at or before what was already sent.
func (s *socket) write(frames []outFrame) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opt.WriteTimeout)
	defer cancel()
	for _, f := range frames {
		if f.id != "" && chat.CompareIDs(f.id, s.sent) <= 0 {
			continue
		}
		if err := s.conn.Write(ctx, websocket.MessageText, f.data); err != nil {
			return err
		}
		s.srv.met.frameOut(f.typ)
		s.delivered(f, time.Now())
		if f.id != "" {
			s.sent = f.id
		}
	}
	return nil
}

// pause holds queued frames back while a replay writes directly; resume lets them go.
func (s *socket) pause() {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

func (s *socket) resume() {
	s.mu.Lock()
	s.paused = false
	start := len(s.queue) > 0 && !s.writing && !s.closing
	if start {
		s.writing = true
	}
	s.mu.Unlock()
	if start {
		s.srv.bg.Go(s.flush)
	}
}

// attach gives a socket its connection once upgraded. A close asked for before (the session
// was deleted while the upgrade went on) happens now; false then.
func (s *socket) attach(conn *websocket.Conn, raw net.Conn) bool {
	s.mu.Lock()
	s.conn, s.raw = conn, raw
	pending, code, reason := s.closing, s.closeCode, s.closeReason
	s.mu.Unlock()
	if pending {
		conn.Close(code, reason)
		return false
	}
	return true
}

// closeAsync starts the close handshake with code on its own goroutine (it may wait seconds
// for the peer); the reader then ends and cleans up. Only the first close counts.
func (s *socket) closeAsync(code websocket.StatusCode, reason string) {
	if conn := s.markClosing(code, reason); conn != nil {
		s.srv.bg.Go(func() { conn.Close(code, reason) })
	}
}

// closeSlow closes a socket that does not read. Its writer is likely stuck on a full TCP
// buffer, so the 1013 close frame may never get out: the connection is dropped after
// slowCloseGrace whatever happens.
func (s *socket) closeSlow() {
	conn := s.markClosing(websocket.StatusTryAgainLater, reasonSlow)
	if conn == nil {
		return
	}
	s.srv.bg.Go(func() {
		drop := time.AfterFunc(slowCloseGrace, s.drop)
		defer drop.Stop()
		conn.Close(websocket.StatusTryAgainLater, reasonSlow)
	})
}

// drop shuts the TCP connection without a close handshake.
func (s *socket) drop() {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	if raw != nil {
		raw.Close()
	}
}

// slowCloseGrace is how long a slow socket gets to take its close frame.
const slowCloseGrace = time.Second

// closeSync is closeAsync on the calling goroutine.
func (s *socket) closeSync(code websocket.StatusCode, reason string) {
	if conn := s.markClosing(code, reason); conn != nil {
		conn.Close(code, reason)
	}
}

// markClosing records the first close and returns the connection to close (nil when a close
// was asked for already, or when there is no connection yet: attach closes it).
func (s *socket) markClosing(code websocket.StatusCode, reason string) *websocket.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.closing = true
	s.closeCode, s.closeReason = code, reason
	s.srv.met.closed(int(code))
	return s.conn
}

// closeState is the close asked for, or 1000 when none was.
func (s *socket) closeState() (websocket.StatusCode, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing || s.closeCode == websocket.StatusMessageTooBig {
		return websocket.StatusNormalClosure, ""
	}
	return s.closeCode, s.closeReason
}

// tokenHash is a short, non-reversible tag of a token for logs: tokens are never logged.
func tokenHash(token string) string { return chat.TokenTag(token) }
