package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// The errors the store returns for outcomes a caller acts on. They may come wrapped: compare
// with errors.Is.
var (
	// ErrSessionNotFound means the token names no session: never created, expired or deleted
	// (or not of the shape the project issues, so it never reached Redis).
	ErrSessionNotFound = errors.New("session expired or does not exist")

	// ErrRateLimited means the session sent limits.messages_per_minute messages in the current
	// minute (Send): the error is a *RateLimitError, which says when the window ends.
	ErrRateLimited = errors.New("too many messages this minute")

	// ErrTooManyPending means limits.max_pending messages of the session are waiting for a
	// reply (Send).
	ErrTooManyPending = errors.New("too many messages waiting for a reply")

	// ErrNotQueued means a message was kept as pending but could not be added to its request
	// stream (Send, Enqueue); resending it with the same client_id queues it. It comes with the
	// last cause.
	ErrNotQueued = errors.New("message kept but not queued")

	// ErrLeaseLost means another worker attempt holds the session's lease now (ours expired):
	// stop working on the turn, the other attempt answers it.
	ErrLeaseLost = errors.New("session lease lost to another worker")

	// ErrDamagedMessage means the pending message of a turn cannot be decoded; BeginTurn returns
	// it with TurnReady (the lease is the caller's, to skip the message).
	ErrDamagedMessage = errors.New("damaged pending message")

	// ErrStaleTurn means the turn was already answered, by an earlier attempt (FinishTurn stored
	// nothing).
	ErrStaleTurn = errors.New("turn already answered")

	// ErrBusy means a regenerate was refused because something of the session is pending: a
	// reply is being written, or messages wait for theirs (Regenerate).
	ErrBusy = errors.New("a reply is being written")

	// ErrNothingToRegenerate means a regenerate was refused because the history does not end
	// with a user message (and its reply) to answer again (Regenerate).
	ErrNothingToRegenerate = errors.New("nothing to regenerate")

	// ErrQuota means the user's (auth.mode none: the session's) token budget for the day,
	// limits.tokens_per_day_per_user, is spent (Send, Reserve; BeginTurn's Turn.Quota): it is new
	// again at Store.RetryAt.
	ErrQuota = errors.New("daily token budget spent")

	// ErrBadCursor means a ListSessions cursor that this store did not make.
	ErrBadCursor = errors.New("invalid cursor")
)

// RateLimitError is ErrRateLimited with the time until the window ends. User says the limit
// reached is the user's (limits.messages_per_minute_per_user, all their sessions together),
// not the session's.
type RateLimitError struct {
	RetryAfter time.Duration
	User       bool
}

func (e *RateLimitError) Error() string {
	if e.User {
		return fmt.Sprintf("too many messages this minute from this user: wait %s", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("too many messages this minute: wait %s", e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// IsRefused reports an error reply Redis gave to a command (WRONGTYPE, a script error on damaged
// data, ...): trying the same again will not help. Connection failures, timeouts, a server that
// is loading, busy, failing over or out of memory, and ACL refusals (a deployment error, fixed
// by the operator) are not refusals.
func IsRefused(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) || rueidis.IsRedisNil(re) {
		return false
	}
	msg := re.Error()
	for _, transient := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY",
		"OOM", "NOPERM", "NOAUTH", "WRONGPASS", "MOVED", "ASK", "NOSCRIPT", "NOGROUP"} {
		if strings.HasPrefix(msg, transient) {
			return false
		}
	}
	return true
}

// isNil reports Redis's nil reply (a missing key, a script returning false).
func isNil(err error) bool { return rueidis.IsRedisNil(err) }

// isNoGroup reports a stream or group that does not exist (deleted under the workers' feet).
func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }
