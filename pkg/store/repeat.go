package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/rueidis"
)

// Steps safe to repeat, and what they get on a broken connection.
//
// rueidis keeps a few pipelined connections per Redis node. One that sits idle while Redis
// restarts (or fails over) is found dead only by the next command sent on it, which fails with
// EOF or a reset although the server is back and /readyz answers 200. A step safe to repeat is
// then sent again at once: the broken connection was replaced, so the step goes out on another
// one (each of the few stale ones fails fast, once). Which steps are safe is said where each
// script is loaded (repeatableScript) and in docs/ARCHITECTURE.md; a step that is not safe
// (a message without client_id, a delta, storing a turn) fails as before, and its caller
// decides (the user resends, the worker's own retries).

// maxRepeats bounds the repeats of one step: each finds (and so replaces) at most one stale
// connection, and rueidis keeps at most 4 pipelined connections per node by default.
const maxRepeats = 4

// repeatable is the set of scripts safe to repeat: running one twice leaves Redis as running it
// once would, and its second answer is as good as its first.
var repeatable = map[*rueidis.Lua]bool{}

// repeatableScript marks sc safe to repeat (at package initialisation only) and returns it.
func repeatableScript(sc *rueidis.Lua) *rueidis.Lua {
	repeatable[sc] = true
	return sc
}

// again runs a step, and again while it fails on a broken connection (at most maxRepeats
// more times) and ctx allows.
func again[T any](ctx context.Context, step func() (T, error)) (T, error) {
	out, err := step()
	for i := 0; i < maxRepeats && broken(err) && ctx.Err() == nil; i++ {
		out, err = step()
	}
	return out, err
}

// againResult is again for a step that returns a rueidis result.
func againResult(ctx context.Context, step func() rueidis.RedisResult) rueidis.RedisResult {
	res, _ := again(ctx, func() (rueidis.RedisResult, error) {
		r := step()
		return r, r.Error()
	})
	return res
}

// broken reports an error of a connection that was open and died (the server closed it or went
// away): not a reply of Redis, not a timeout, not a connection that could not be made.
func broken(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
