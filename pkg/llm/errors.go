package llm

import "errors"

// Errors of a model call.
var (
	// ErrTimeout means one attempt took longer than Retry.Timeout; Retry tries again.
	ErrTimeout = errors.New("model call timed out")
	// ErrIncomplete means the reply stream ended before the model said it was finished (the
	// connection dropped); Retry tries again.
	ErrIncomplete = errors.New("model reply ended early")
)
