package worker

import (
	"context"
	"errors"
	"time"

	"chatbot/pkg/store"
)

// keepLease renews t's lease every RenewEvery until ctx ends. A stop asked by the user ends
// the generation with errStopped (renewing goes on: the partial reply is still to be stored);
// a lost lease ends it with store.ErrLeaseLost. The returned channel closes when it returns.
func (c *consumer) keepLease(ctx context.Context, t store.Turn, end context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.w.recovered("lease", func() { c.renewUntil(ctx, t, end) }) {
			end(store.ErrLeaseLost) // not renewed any more: the turn must not go on as if it were
		}
	}()
	return done
}

// renewUntil is keepLease's loop. It renews on the grid of RenewEvery (onGrid), as the
// Worker's other replies do, so that their renewals go to Redis together (group).
func (c *consumer) renewUntil(ctx context.Context, t store.Turn, end context.CancelCauseFunc) {
	every := c.w.opt.RenewEvery
	next := func() time.Duration { return time.Until(onGrid(time.Now().Add(every), every)) }
	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(next())
		r := c.w.renew.do(ctx, store.Renewal{Turn: t, Lease: c.w.opt.Lease})
		switch {
		case ctx.Err() != nil:
			return // the turn ended while its renewal was written with others'
		case errors.Is(r.Err, store.ErrLeaseLost):
			end(store.ErrLeaseLost)
			return
		case r.Err != nil:
			c.log.WarnContext(turnContext(t), "renewing the session lease failed", "seq", t.Seq, "err", r.Err)
		case r.Stop:
			end(errStopped)
		}
	}
}

// release gives the session's lease back, so that whoever goes on with it need not wait for it
// to expire.
func (c *consumer) release(t store.Turn) {
	if err := c.st.ReleaseLease(context.WithoutCancel(c.work), t.Token, t.Holder); err != nil {
		c.log.Warn("releasing a session lease failed; it expires by itself", "err", err)
	}
}
