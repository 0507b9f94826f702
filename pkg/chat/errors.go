package chat

import "errors"

// Error codes of error frames (docs/PROTOCOL.md), the "code" of an Event of type FrameError.
const (
	CodeEmptyMessage     = "empty_message"
	CodeRateLimited      = "rate_limited"
	CodeTooManyPending   = "too_many_pending"
	CodeBadFrame         = "bad_frame"
	CodeModelError       = "model_error"
	CodeHistoryTruncated = "history_truncated"
	// CodeUnavailable: Redis could not take a command, so the frame was not acted on (or, with
	// reply_to, the message is kept but not yet queued: resend it with the same client_id).
	CodeUnavailable = "unavailable"
	// CodeCannotRegenerate: a regenerate command was refused, because a reply is being written
	// (or messages wait for theirs) or because the conversation has no last message to answer
	// again. Nothing was queued.
	CodeCannotRegenerate = "cannot_regenerate"
	// CodeQuota: the user's token budget for the day (limits.tokens_per_day_per_user) is
	// spent: a message sent is not kept; a queued message is answered with it (reply_to) and
	// never reaches the model. retry_at says when the budget is new.
	CodeQuota = "quota"
)

// Errors of DecodeClientFrame. ErrEmptyMessage means the message has no text;
// ErrBadFrame means the frame is a JSON command that cannot be understood.
var (
	ErrEmptyMessage = errors.New("message is empty")
	ErrBadFrame     = errors.New("malformed command")
)

// ErrBadRequest means a request stream entry is malformed (DecodeRequest).
var ErrBadRequest = errors.New("malformed request entry")

// ErrNewerRequest means a request stream entry is of a newer format than this binary reads
// (ReqFieldVersion above RequestVersion): a newer worker answers it (DecodeRequest).
var ErrNewerRequest = errors.New("request entry of a newer format")
