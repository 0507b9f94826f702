package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"
)

var regenerateScript = sessionScript("regenerate.lua")

// Regenerate queues the session's last user message to be answered again (the regenerate
// command, id, with its clientID): a worker answers it like a message, and its reply replaces
// the last reply in the history (FinishTurn). It is refused with ErrBusy while anything is
// pending (a reply is being written, or messages wait for theirs) and with
// ErrNothingToRegenerate when the history does not end with a user message and its reply (or
// a user message whose turn failed). The client_id and the rate limits are those of Send: a
// resend of the same client_id queues nothing new; a regeneration counts as a message against
// limits.messages_per_minute (and, with lim.User, the user's limit). The ack event carries the
// id of the message answered again (reply_to) and of the reply replaced (replaces).
func (s *Store) Regenerate(ctx context.Context, token, id, clientID string, lim SendLimits) (Sent, error) {
	return s.RegenerateTraced(ctx, token, id, clientID, "", lim)
}

// RegenerateTraced is Regenerate with the W3C traceparent of the span that asks (serve's,
// when it traces; "" for none): the pending entry and the request entry carry it, as a
// message's do (Send).
func (s *Store) RegenerateTraced(ctx context.Context, token, id, clientID, traceparent string, lim SendLimits) (Sent, error) {
	if lim.User != "" {
		if err := s.touchUser(ctx, lim.User, s.keys.UserMessages(lim.User), token, lim.MessagesPerMinutePerUser, false); err != nil {
			return Sent{}, err
		}
	}
	head, err := chat.RegenerationHead(id, clientID, traceparent)
	if err != nil {
		return Sent{}, err
	}
	ack, err := chat.Marshal(chat.Event{Type: chat.FrameAck, ID: id, ClientID: clientID})
	if err != nil {
		return Sent{}, err
	}
	var more []string
	if s.oneNode {
		more = []string{s.keys.Requests(Partition(token, s.opt.Partitions))}
	}
	status, rest, err := reply(s.evalSessionKeys(ctx, regenerateScript, token, more, head,
		strings.TrimSuffix(string(ack), "}"), id, clientID, strconv.Itoa(lim.MessagesPerMinute),
		strconv.Itoa(s.opt.StreamMaxLen), token, traceparent))
	if err != nil {
		return Sent{}, fmt.Errorf("regenerate: %w", err)
	}
	var out Sent
	switch status {
	case "ok", "dup":
		var queue bool
		if out, queue, err = s.queued(status, rest, id); err != nil || !queue {
			return out, err
		}
	case "expired":
		return Sent{}, ErrSessionNotFound
	case "busy":
		return Sent{}, ErrBusy
	case "nothing":
		return Sent{}, ErrNothingToRegenerate
	case "rate_limited":
		left, _ := rest[0].AsInt64()
		return Sent{}, &RateLimitError{RetryAfter: time.Duration(max(left, 0)) * time.Millisecond}
	default:
		return Sent{}, fmt.Errorf("regenerate: unexpected reply %q", status)
	}
	return out, s.enqueue(ctx, token, out.Seq, traceparent)
}
