package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"chatbot/pkg/retry"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// Retry is the retry policy of a model call: model errors and timeouts are tried again with
// exponential backoff, up to MaxRetries times. Errors that another attempt cannot fix (a
// request the API refuses: 400, 401, 403, 404, 422) are not retried, nor is anything once the
// caller's context ends (the user stopped the reply, the worker lost the session or shuts
// down).
type Retry struct {
	MaxRetries int           // attempts after the first one (llm.max_retries)
	Timeout    time.Duration // time limit of one attempt (llm.timeout); 0: none
	Base       time.Duration // backoff before the first retry, doubled for each next one; default 500ms
	Max        time.Duration // longest backoff; default 10s
}

// Do calls attempt (n counts from 1; ctx carries the attempt's time limit) until it succeeds,
// fails with an error not worth retrying, ctx ends, or the retries are used up. It returns the
// number of attempts made and the last error; an attempt that ran out of time reports an error
// wrapping ErrTimeout.
func (r Retry) Do(ctx context.Context, attempt func(ctx context.Context, n int) error) (int, error) {
	var attempts int
	err := retry.Do(ctx, r.backoff(), max(r.MaxRetries, 0)+1, func(n int) error {
		attempts = n
		err := r.once(ctx, n, attempt)
		if err != nil && (ctx.Err() != nil || !Retryable(err)) {
			return retry.Stop(err)
		}
		return err
	})
	return attempts, err
}

func (r Retry) once(ctx context.Context, n int, attempt func(context.Context, int) error) error {
	if r.Timeout <= 0 {
		return attempt(ctx, n)
	}
	actx, cancel := context.WithTimeoutCause(ctx, r.Timeout, ErrTimeout)
	defer cancel()
	err := attempt(actx, n)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), ErrTimeout) {
		return fmt.Errorf("%w after %s", ErrTimeout, r.Timeout)
	}
	return err
}

// Backoff is the wait after failed attempt n (from 1): Base·2^(n-1), at most Max, less up to
// a fifth at random so that workers that failed together do not retry together.
func (r Retry) Backoff(n int) time.Duration { return r.backoff().Delay(n) }

func (r Retry) backoff() retry.Backoff {
	b := retry.Backoff{Base: r.Base, Max: r.Max, Jitter: 0.2}
	if b.Base <= 0 {
		b.Base = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	return b
}

// Retryable reports whether another attempt may succeed where err failed: timeouts, dropped
// connections, rate limits and server errors may; a request the API refuses does not.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		switch c := apiErr.StatusCode; {
		case c == http.StatusRequestTimeout, c == http.StatusConflict, c == http.StatusTooManyRequests, c >= 500:
			return true
		case c >= 400:
			return false
		}
	}
	return true
}

// Describe is a short sentence about a model error that a user can be shown: it names the kind
// of failure, never the endpoint, the key or the server's own words.
func Describe(err error) string {
	var (
		apiErr    *openai.Error
		streamErr *ssestream.StreamError
		netErr    net.Error
	)
	switch {
	case errors.Is(err, ErrTimeout):
		return "the model took too long to answer"
	case errors.Is(err, ErrIncomplete):
		return "the model's reply was cut off"
	case errors.As(err, &apiErr):
		switch c := apiErr.StatusCode; {
		case c == http.StatusTooManyRequests:
			return "the model service is busy (429 Too Many Requests)"
		case c == http.StatusUnauthorized || c == http.StatusForbidden:
			return fmt.Sprintf("the model service refused the request (%d %s)", c, http.StatusText(c))
		case c >= 500:
			return fmt.Sprintf("the model service failed (%d %s)", c, http.StatusText(c))
		default:
			return fmt.Sprintf("the model service rejected the request (%d %s)", c, http.StatusText(c))
		}
	case errors.As(err, &streamErr):
		return "the model service reported an error while answering"
	case errors.As(err, &netErr):
		return "the model service could not be reached"
	}
	return "the model failed"
}
