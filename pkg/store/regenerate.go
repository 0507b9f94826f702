package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"
)

// Regenerated is the outcome of Regenerate.
type Regenerated struct {
	Seq       int64
	ID        string // the command's id (for a duplicate, the first command's)
	Offset    string // the ack event's offset
	Duplicate bool   // client_id was seen before: nothing new was queued
}

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
func (s *Store) Regenerate(ctx context.Context, token, id, clientID string, lim SendLimits) (Regenerated, error) {
	if lim.User != "" {
		if err := s.touchUser(ctx, lim.User, s.keys.UserMessages(lim.User), token, lim.MessagesPerMinutePerUser); err != nil {
			return Regenerated{}, err
		}
	}
	head, err := chat.RegenerationHead(id, clientID)
	if err != nil {
		return Regenerated{}, err
	}
	ack, err := chat.Marshal(chat.Event{Type: chat.FrameAck, ID: id, ClientID: clientID})
	if err != nil {
		return Regenerated{}, err
	}
	var more []string
	if s.oneNode {
		more = []string{s.keys.Requests(Partition(token, s.opt.Partitions))}
	}
	status, rest, err := reply(s.evalSessionKeys(ctx, regenerateScript, token, more, head,
		strings.TrimSuffix(string(ack), "}"), id, clientID, strconv.Itoa(lim.MessagesPerMinute),
		strconv.Itoa(s.opt.StreamMaxLen), token))
	if err != nil {
		return Regenerated{}, fmt.Errorf("regenerate: %w", err)
	}
	var out Regenerated
	switch status {
	case "ok":
		out.Seq, _ = rest[0].AsInt64()
		out.Offset, _ = rest[1].ToString()
		out.ID = id
		if queue, _ := rest[2].AsInt64(); queue == 0 || s.oneNode {
			return out, nil // the lease holder answers it, or the script queued it
		}
	case "dup":
		prior, _ := rest[0].ToString()
		done, _ := rest[1].AsInt64()
		f := strings.Fields(prior)
		if len(f) != 3 {
			return Regenerated{}, fmt.Errorf("regenerate: damaged client_id record")
		}
		out.Seq, _ = strconv.ParseInt(f[0], 10, 64)
		out.ID, out.Offset, out.Duplicate = f[1], f[2], true
		if out.Seq <= done || s.oneNode {
			return out, nil
		}
	case "expired":
		return Regenerated{}, ErrSessionNotFound
	case "busy":
		return Regenerated{}, ErrBusy
	case "nothing":
		return Regenerated{}, ErrNothingToRegenerate
	case "rate_limited":
		left, _ := rest[0].AsInt64()
		return Regenerated{}, &RateLimitError{RetryAfter: time.Duration(max(left, 0)) * time.Millisecond}
	default:
		return Regenerated{}, fmt.Errorf("regenerate: unexpected reply %q", status)
	}
	return out, s.Enqueue(ctx, token, out.Seq)
}
