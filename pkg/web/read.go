package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// readLoop reads client frames until the connection ends, then cleans up. It is the
// socket's one long-lived goroutine. It reads with a context that never ends, so an idle
// socket holds no timer; the server closes sockets itself on shutdown.
func (sock *socket) readLoop() {
	defer sock.srv.finish(sock)
	for {
		typ, data, err := sock.conn.Read(context.Background())
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				sock.markClosing(websocket.StatusMessageTooBig, "") // coder/websocket sent the 1009
			}
			// Completes the close either side began, draining what the peer still sends.
			sock.conn.Close(websocket.StatusNormalClosure, "")
			return
		}
		if typ != websocket.MessageText {
			sock.srv.met.framesIn.WithLabelValues(inBinary).Inc()
			sock.closeSync(websocket.StatusUnsupportedData, reasonBinary)
			return
		}
		if !sock.handle(data) {
			return
		}
	}
}

// handle acts on one text frame; false means the socket was closed.
func (sock *socket) handle(data []byte) bool {
	cmd, err := chat.DecodeClientFrame(data)
	switch {
	case errors.Is(err, chat.ErrEmptyMessage):
		sock.srv.met.framesIn.WithLabelValues(inInvalid).Inc()
		sock.sendError(chat.CodeEmptyMessage, "Message is empty: send some text", "")
		return true
	case err != nil:
		sock.srv.met.framesIn.WithLabelValues(inInvalid).Inc()
		sock.sendError(chat.CodeBadFrame, err.Error(), "")
		return true
	case cmd.Type == chat.CmdStop:
		sock.srv.met.framesIn.WithLabelValues(inStop).Inc()
		return sock.stop()
	default:
		sock.srv.met.framesIn.WithLabelValues(inMessage).Inc()
		return sock.send(cmd)
	}
}

// send queues a user message. Its ack, and later its reply, come back through the
// session's events like every other frame.
func (sock *socket) send(cmd chat.Command) bool {
	srv := sock.srv
	msg := chat.Message{
		ID: uuid.NewString(), Role: chat.RoleHuman, Msg: cmd.Msg,
		Timestamp: time.Now().UTC(), ClientID: cmd.ClientID,
	}
	start := time.Now()
	sent, err := srv.st.Send(context.Background(), sock.token, msg, store.SendLimits{
		MaxPending: srv.opt.MaxPending, MessagesPerMinute: srv.opt.MessagesPerMinute,
		User: sock.user, MessagesPerMinutePerUser: srv.opt.MessagesPerMinutePerUser,
	})
	srv.met.enqueue.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		if sent.Duplicate {
			srv.log.Debug("resent client_id: nothing new queued", "session", tokenHash(sock.token))
		}
	case errors.Is(err, store.ErrSessionNotFound):
		sock.closeSync(websocket.StatusPolicyViolation, reasonAuth)
		return false
	case errors.Is(err, store.ErrRateLimited):
		limit := srv.opt.MessagesPerMinute
		if rl := (*store.RateLimitError)(nil); errors.As(err, &rl) && rl.User {
			limit = srv.opt.MessagesPerMinutePerUser
		}
		sock.sendError(chat.CodeRateLimited, fmt.Sprintf("%s (limit %d per minute)", capitalize(err.Error()), limit), cmd.ClientID)
	case errors.Is(err, store.ErrTooManyPending):
		sock.sendError(chat.CodeTooManyPending, fmt.Sprintf("Too many messages waiting for a reply (limit %d): wait for a reply", srv.opt.MaxPending), cmd.ClientID)
	case errors.Is(err, store.ErrNotQueued):
		srv.log.Warn("message kept but not queued", "session", tokenHash(sock.token), "err", err)
		ev := chat.ErrorEvent(chat.CodeUnavailable, "Message kept but not queued: resend it with the same client_id", sent.ID)
		ev.ClientID = cmd.ClientID
		sock.sendEvent(ev)
	default:
		srv.log.Warn("sending a message failed", "session", tokenHash(sock.token), "err", err)
		sock.sendError(chat.CodeUnavailable, "Message not sent: service unavailable, try again", cmd.ClientID)
	}
	return true
}

// stop asks the worker to stop the reply being generated.
func (sock *socket) stop() bool {
	_, err := sock.srv.st.Stop(context.Background(), sock.token)
	switch {
	case errors.Is(err, store.ErrSessionNotFound):
		sock.closeSync(websocket.StatusPolicyViolation, reasonAuth)
		return false
	case err != nil:
		sock.srv.log.Warn("stop failed", "session", tokenHash(sock.token), "err", err)
		sock.sendError(chat.CodeUnavailable, "Stop not sent: service unavailable, try again", "")
	}
	return true
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
