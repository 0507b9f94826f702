package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/telemetry"

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
			sock.peerClosed(err)
			if errors.Is(err, websocket.ErrMessageTooBig) {
				sock.markClosing(websocket.StatusMessageTooBig, "") // coder/websocket sent the 1009
			}
			// Completes the close either side began, draining what the peer still sends; a
			// close the server asked for (a flood: the meter failed the read) goes out now.
			code, reason := sock.closeState()
			sock.conn.Close(code, reason)
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
	case cmd.Type == chat.CmdRegenerate:
		sock.srv.met.framesIn.WithLabelValues(inRegenerate).Inc()
		return sock.regenerate(cmd)
	default:
		sock.srv.met.framesIn.WithLabelValues(inMessage).Inc()
		return sock.send(cmd)
	}
}

// send queues a user message. Its ack, and later its reply, come back through the
// session's events like every other frame. The rate limits that can be checked here are,
// before any Redis call: a socket told rate_limited refuses the session's messages until the
// window ends, and limits.messages_per_minute_per_ip is counted in this process. While Redis
// is above limits.redis_memory_high the message is refused (unavailable), not kept.
func (sock *socket) send(cmd chat.Command) bool {
	srv := sock.srv
	if sock.limited(cmd.ClientID) {
		return true
	}
	msg := chat.Message{
		ID: uuid.NewString(), Role: chat.RoleHuman, Msg: cmd.Msg,
		Timestamp: time.Now().UTC(), ClientID: cmd.ClientID,
	}
	ctx, msgSpan, sendSpan := sock.startMessage(cmd)
	msg.Traceparent = telemetry.Traceparent(ctx) // "" with tracing off: nothing more is stored
	start := time.Now()
	sent, err := srv.st.Send(ctx, sock.token, msg, store.SendLimits{
		MaxPending: srv.opt.MaxPending, MessagesPerMinute: srv.opt.MessagesPerMinute,
		User: sock.user, MessagesPerMinutePerUser: srv.opt.MessagesPerMinutePerUser,
	})
	srv.met.enqueue.Observe(time.Since(start).Seconds())
	endMessage(msgSpan, sendSpan, sent, err)
	switch {
	case err == nil:
		if sent.Duplicate {
			srv.log.Debug("resent client_id: nothing new queued", "session", tokenHash(sock.token))
		}
	case errors.Is(err, store.ErrSessionNotFound):
		sock.closeSync(websocket.StatusPolicyViolation, reasonAuth)
		return false
	case errors.Is(err, store.ErrRateLimited):
		sock.storeRateLimited(err, cmd.ClientID)
	case errors.Is(err, store.ErrQuota):
		ev := chat.QuotaEvent(srv.st.RetryAt(), "")
		ev.ClientID = cmd.ClientID
		sock.sendEvent(ev)
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

// limited answers a message or regenerate command with rate_limited, and reports true, when it
// is over a limit that needs no Redis call: the window this socket was told of, or
// limits.messages_per_minute_per_ip (counted in this process); or with unavailable, not
// kept, while Redis is above limits.redis_memory_high (memguard.go).
func (sock *socket) limited(clientID string) bool {
	srv := sock.srv
	if now := time.Now(); now.Before(sock.limitedUntil) {
		sock.sendError(chat.CodeRateLimited, sock.limitedMsg, clientID)
		return true
	}
	if srv.full() {
		srv.met.memRefused.WithLabelValues("message").Inc()
		sock.sendError(chat.CodeUnavailable, msgFull, clientID)
		return true
	}
	if ok, wait := srv.msgLim.allow(sock.client.key); !ok {
		sock.rateLimited(wait, fmt.Sprintf("Too many messages from this address (limit %d per minute): wait %s",
			srv.opt.MessagesPerMinutePerIP, wait.Round(time.Second)), clientID)
		return true
	}
	return false
}

// storeRateLimited answers a store.ErrRateLimited: the session's limit, or the user's.
func (sock *socket) storeRateLimited(err error, clientID string) {
	limit := sock.srv.opt.MessagesPerMinute
	var wait time.Duration
	if rl := (*store.RateLimitError)(nil); errors.As(err, &rl) {
		wait = rl.RetryAfter
		if rl.User {
			limit = sock.srv.opt.MessagesPerMinutePerUser
		}
	}
	sock.rateLimited(wait, fmt.Sprintf("%s (limit %d per minute)", capitalize(err.Error()), limit), clientID)
}

// regenerate asks for the last reply again. Its ack (with reply_to and replaces), the new
// reply's deltas and its message event come back through the session's events; a refusal is
// an error frame to this socket: cannot_regenerate while a reply is being written or when
// there is nothing to regenerate, or a rate limit (a regeneration counts as a message).
func (sock *socket) regenerate(cmd chat.Command) bool {
	srv := sock.srv
	if sock.limited(cmd.ClientID) {
		return true
	}
	ctx, cmdSpan, sendSpan := sock.startMessage(cmd)
	start := time.Now()
	sent, err := srv.st.RegenerateTraced(ctx, sock.token, uuid.NewString(), cmd.ClientID, telemetry.Traceparent(ctx), store.SendLimits{
		MessagesPerMinute: srv.opt.MessagesPerMinute,
		User:              sock.user, MessagesPerMinutePerUser: srv.opt.MessagesPerMinutePerUser,
	})
	srv.met.enqueue.Observe(time.Since(start).Seconds())
	endMessage(cmdSpan, sendSpan, sent, err)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrSessionNotFound):
		sock.closeSync(websocket.StatusPolicyViolation, reasonAuth)
		return false
	case errors.Is(err, store.ErrBusy):
		sock.sendError(chat.CodeCannotRegenerate, "A reply is being written: wait for it (or stop it), then regenerate", cmd.ClientID)
	case errors.Is(err, store.ErrNothingToRegenerate):
		sock.sendError(chat.CodeCannotRegenerate, "Nothing to regenerate: the conversation has no reply yet", cmd.ClientID)
	case errors.Is(err, store.ErrRateLimited):
		sock.storeRateLimited(err, cmd.ClientID)
	case errors.Is(err, store.ErrNotQueued):
		srv.log.Warn("regenerate kept but not queued", "session", tokenHash(sock.token), "err", err)
		sock.sendError(chat.CodeUnavailable, "Regenerate kept but not queued: send it again with the same client_id", cmd.ClientID)
	default:
		srv.log.Warn("regenerate failed", "session", tokenHash(sock.token), "err", err)
		sock.sendError(chat.CodeUnavailable, "Regenerate not sent: service unavailable, try again", cmd.ClientID)
	}
	return true
}

// rateLimited tells the client it is rate limited, and refuses its messages here until the
// window ends.
func (sock *socket) rateLimited(wait time.Duration, msg, clientID string) {
	sock.limitedUntil, sock.limitedMsg = time.Now().Add(wait), msg
	sock.sendError(chat.CodeRateLimited, msg, clientID)
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

// peerClosed notes the client's close code for the access log (1006 when it sent none).
func (sock *socket) peerClosed(err error) {
	var ce websocket.CloseError
	sock.mu.Lock()
	defer sock.mu.Unlock()
	if errors.As(err, &ce) {
		sock.peerCode, sock.peerReason = ce.Code, ce.Reason
	} else {
		sock.peerCode = websocket.StatusAbnormalClosure
	}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
