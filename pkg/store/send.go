package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/retry"

	"github.com/redis/rueidis"
)

// SendLimits are the limits Send checks: per session, and with User (auth.mode jwt) per user.
type SendLimits struct {
	MaxPending        int
	MessagesPerMinute int
	// User is the sender's sub (auth.mode jwt; "" for none). With it, Send counts the
	// message against MessagesPerMinutePerUser (0: no limit) and marks the session active in
	// the user's index (ListSessions), and the session's first message gives it its title.
	User                     string
	MessagesPerMinutePerUser int
}

// Sent is the outcome of Send (and of Regenerate: the command for the message).
type Sent struct {
	Seq       int64
	ID        string // the message's id (for a duplicate, the first send's)
	Offset    string // the ack event's offset
	Duplicate bool   // client_id was seen before: nothing new was queued
}

var sendScript = sessionScript("send.lua", "usage.lua", "user_step.lua")

// Send queues a user message: one script on the session's slot checks the limits and
// client_id, gives it the next sequence number, keeps it as pending and writes the ack event;
// then the request is added to the session's partition stream, unless a worker attempt holds
// the session's lease (it answers everything pending before it lets go). On a single Redis (not a
// cluster) the script adds the request itself, and with a User takes the user step first: one
// round trip, and never ErrNotQueued. A duplicate client_id whose message is still unanswered
// is added to the partition stream again (harmless: workers skip what is done), so a client
// that resends after a failure never loses its message.
func (s *Store) Send(ctx context.Context, token string, msg chat.Message, lim SendLimits) (Sent, error) {
	body, err := chat.Marshal(msg)
	if err != nil {
		return Sent{}, err
	}
	var more []string
	if s.oneNode {
		// The request stream is on the same node: the script adds the request too.
		more = []string{s.keys.Requests(Partition(token, s.opt.Partitions))}
	}
	title := ""
	if lim.User != "" {
		title = chat.Title(msg.Msg)
		if s.oneNode {
			// So are the user's keys: the script takes the user step first.
			more = append(more, s.keys.UserSessions(lim.User), s.keys.UserMessages(lim.User),
				s.keys.UserUsage(lim.User, day(s.opt.Budget.Now())))
		} else if err := s.touchUser(ctx, lim.User, s.keys.UserMessages(lim.User), token, lim.MessagesPerMinutePerUser, true); err != nil {
			// The user's limit first: a message over it is neither kept nor counted for the session.
			return Sent{}, err
		}
	}
	ack, _ := chat.Marshal(chat.Event{Type: chat.FrameAck, ID: msg.ID, ClientID: msg.ClientID})
	args := []string{string(body), msg.ID, msg.ClientID, strconv.Itoa(lim.MaxPending),
		strconv.Itoa(lim.MessagesPerMinute), string(ack), strconv.Itoa(s.opt.HistoryMax),
		strconv.Itoa(s.opt.StreamMaxLen), token, title, strconv.Itoa(max(lim.MessagesPerMinutePerUser, 0)),
		day(s.opt.Budget.Now()), strconv.FormatInt(s.opt.Budget.TokensPerDay, 10), msg.Traceparent}
	// Safe to repeat only with a client_id: a second run finds it and queues nothing new.
	status, rest, err := reply(s.evalSessionRepeat(ctx, sendScript, msg.ClientID != "", token, more, args...))
	if err != nil {
		return Sent{}, fmt.Errorf("send: %w", err)
	}
	var out Sent
	switch status {
	case "ok", "dup":
		var queue bool
		if out, queue, err = s.queued(status, rest, msg.ID); err != nil || !queue {
			return out, err
		}
	case "expired":
		return Sent{}, ErrSessionNotFound
	case "too_many_pending":
		return Sent{}, ErrTooManyPending
	case "quota":
		return Sent{}, ErrQuota
	case "rate_limited":
		left, _ := rest[0].AsInt64()
		return Sent{}, &RateLimitError{RetryAfter: time.Duration(max(left, 0)) * time.Millisecond}
	case "user_rate_limited":
		left, _ := rest[0].AsInt64()
		return Sent{}, &RateLimitError{RetryAfter: time.Duration(max(left, 0)) * time.Millisecond, User: true}
	default:
		return Sent{}, fmt.Errorf("send: unexpected reply %q", status)
	}
	if err := s.enqueue(ctx, token, out.Seq, msg.Traceparent); err != nil {
		return out, err
	}
	return out, nil
}

// queued reads the "ok" and "dup" replies of send.lua and regenerate.lua (id: the command's),
// and reports whether the caller must still add its request to the partition stream: on a
// cluster, when no lease holder answers it and it is not answered yet (on a single Redis the
// script added it).
func (s *Store) queued(status string, rest []rueidis.RedisMessage, id string) (out Sent, queue bool, err error) {
	if status == "ok" {
		out.Seq, _ = rest[0].AsInt64()
		out.Offset, _ = rest[1].ToString()
		out.ID = id
		q, _ := rest[2].AsInt64() // 0: the lease holder answers it
		return out, q == 1 && !s.oneNode, nil
	}
	prior, _ := rest[0].ToString()
	done, _ := rest[1].AsInt64()
	f := strings.Fields(prior)
	if len(f) != 3 {
		return Sent{}, false, fmt.Errorf("damaged client_id record")
	}
	out.Seq, _ = strconv.ParseInt(f[0], 10, 64)
	out.ID, out.Offset, out.Duplicate = f[1], f[2], true
	return out, out.Seq > done && !s.oneNode, nil
}

// Enqueue adds "session token has work up to seq" to the token's partition stream, retrying
// a few times.
func (s *Store) Enqueue(ctx context.Context, token string, seq int64) error {
	return s.enqueue(ctx, token, seq, "")
}

// enqueue is Enqueue with the W3C traceparent the request carries (chat.ReqFieldTraceparent;
// "" for none: no field).
func (s *Store) enqueue(ctx context.Context, token string, seq int64, traceparent string) error {
	key := s.keys.Requests(Partition(token, s.opt.Partitions))
	// 4 tries, 20ms, 60ms and 180ms apart.
	err := retry.Do(ctx, retry.Backoff{Base: 20 * time.Millisecond, Factor: 3}, 4, func(int) error {
		cctx, cancel := s.timeout(ctx)
		defer cancel()
		fv := s.rdb.B().Xadd().Key(key).Maxlen().Almost().Threshold(strconv.Itoa(s.opt.StreamMaxLen)).
			Id("*").FieldValue().FieldValue(chat.ReqFieldToken, token).FieldValue(chat.ReqFieldSeq, strconv.FormatInt(seq, 10))
		if traceparent != "" {
			fv = fv.FieldValue(chat.ReqFieldTraceparent, traceparent)
		}
		return s.rdb.Do(cctx, fv.Build()).Error()
	})
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNotQueued, err)
}

// Safe to repeat: it records the turn to stop, the same again.
var stopScript = repeatableScript(sessionScript("stop.lua"))

// Stop asks the worker to stop the reply being generated. It reports the sequence number
// asked to stop (0 when nothing is waiting for a reply).
func (s *Store) Stop(ctx context.Context, token string) (int64, error) {
	n, err := s.evalSession(ctx, stopScript, token).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("stop: %w", err)
	}
	if n < 0 {
		return 0, ErrSessionNotFound
	}
	return n, nil
}
