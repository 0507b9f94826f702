package bench

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// session is one chat session of a load run: its sockets (the first one sends), and the
// messages it sent that wait for their reply, in the order they were sent.
type session struct {
	token   string
	n       int // index, for client_ids
	rec     *recorder
	stream  bool
	text    []byte         // the message, as a JSON string
	credits chan struct{}  // closed loop: one per message allowed in flight
	sends   chan time.Time // fixed rate: the times messages are due

	conns []*websocket.Conn
	wctx  context.Context // writes end with it (the end of the run, not of the sending)

	mu      sync.Mutex
	waiting []*message
	seq     int
	dead    bool
	replies int           // replies to messages due in the measured window
	worst   time.Duration // the longest of them
}

// message is one sent message waiting for its reply.
type message struct {
	clientID string
	id       string // the server's id, learnt from the ack (stream only)
	at       time.Time
	delta    bool // first delta seen
}

// send writes one message, due at at (latency counts from when it was due, so a bench that
// falls behind does not hide the wait).
func (s *session) send(at time.Time) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.seq++
	m := &message{clientID: "b" + strconv.Itoa(s.n) + "-" + strconv.Itoa(s.seq), at: at}
	s.waiting = append(s.waiting, m)
	s.mu.Unlock()
	s.rec.addSent(at)
	wctx, cancel := context.WithTimeout(s.wctx, 5*time.Second)
	err := s.conns[0].Write(wctx, websocket.MessageText, messageCommand(s.text, m.clientID))
	cancel()
	if err != nil && !s.rec.over.Load() {
		s.rec.addMsgError(at, "write_failed")
		s.mu.Lock()
		s.remove(m)
		s.dead = true
		s.mu.Unlock()
	}
}

// remove drops m from waiting. Called with mu held.
func (s *session) remove(m *message) {
	for i, w := range s.waiting {
		if w == m {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			return
		}
	}
}

// find is the waiting message with the client_id or server id. Called with mu held.
func (s *session) find(clientID, id string) *message {
	for _, w := range s.waiting {
		if (clientID != "" && w.clientID == clientID) || (id != "" && w.id == id) {
			return w
		}
	}
	return nil
}

// credit lets a closed-loop session send again, after pause.
func (s *session) credit(pause time.Duration) {
	if s.credits == nil {
		return
	}
	if pause > 0 {
		time.AfterFunc(pause, func() { s.credit(0) })
		return
	}
	select {
	case s.credits <- struct{}{}:
	default:
	}
}

// read reads one socket's frames until it closes. Only the sending socket (first) matches
// frames to messages; the others count what they receive.
func (s *session) read(ctx context.Context, conn *websocket.Conn, first bool) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && !s.rec.over.Load() {
				s.rec.addError(closeKind(err), 1)
				s.mu.Lock()
				s.dead = true
				s.mu.Unlock()
			}
			return
		}
		now := time.Now()
		f, ok := decodeFrame(data)
		if !ok {
			s.rec.addError("bad_server_frame", 1)
			continue
		}
		s.rec.addFrame(f.Type)
		if first {
			s.handle(f, now)
		}
	}
}

// handle matches a frame of the sending socket to the message it is about.
func (s *session) handle(f frame, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case f.Type == "ack":
		if m := s.find(f.ClientID, ""); m != nil {
			m.id = f.ID
			s.rec.addAck(m.at, now)
		}
	case f.Type == "delta":
		if m := s.find("", f.ReplyTo); m != nil {
			if !m.delta {
				m.delta = true
				s.rec.addFirstDelta(m.at, now)
			}
			if at, ok := offsetTime(f.Offset); ok {
				s.rec.addDelivery(m.at, now.Sub(at))
			}
		}
	case f.endsTurn():
		var m *message
		if s.stream {
			m = s.find("", f.ReplyTo)
		} else if len(s.waiting) > 0 {
			m = s.waiting[0] // replies come in the order the messages were sent
		}
		if m == nil {
			s.rec.addError("unexpected_reply", 1)
			return
		}
		s.remove(m)
		if f.Type == "error" {
			s.rec.addMsgError(m.at, f.Code)
		} else {
			s.rec.addTurn(m.at, now)
			s.rec.addReply(now, f.Msg)
			if s.rec.counts(m.at) {
				s.replies++
				s.worst = max(s.worst, now.Sub(m.at))
			}
		}
		s.credit(0)
	case f.Type == "error":
		// About one client frame: the message was refused and gets no reply.
		m := s.find(f.ClientID, "")
		if m == nil {
			s.rec.addError(f.Code, 1)
			return
		}
		s.rec.addMsgError(m.at, f.Code)
		s.remove(m)
		s.credit(50 * time.Millisecond)
	}
}

// offsetTime is the time in an event's offset: the Redis server's clock, in ms, when the
// event was written to the session's stream.
func offsetTime(offset string) (time.Time, bool) {
	ms, _, _ := strings.Cut(offset, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// closeKind names why a socket ended.
func closeKind(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "closed_" + strconv.Itoa(int(code))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "read_timeout"
	}
	return "connection_lost"
}
