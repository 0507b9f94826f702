package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"chatbot/pkg/store"
)

// heard is when a turn's last delta was written: Redis then told its holder that the lease is
// still its own and whether the user asked to stop (store.Delta.Stop), as a renewal does.
type heard struct{ at atomic.Int64 } // Unix ns

func (h *heard) now() { h.at.Store(time.Now().UnixNano()) }

// since is how long ago Redis was last heard.
func (h *heard) since() time.Duration { return time.Duration(time.Now().UnixNano() - h.at.Load()) }

// keepLease renews t's lease every RenewEvery until ctx ends. A stop asked by the user ends
// the generation with errStopped (renewing goes on: the partial reply is still to be stored);
// a lost lease ends it with store.ErrLeaseLost. The returned channel closes when it returns.
func (c *consumer) keepLease(ctx context.Context, t store.Turn, end context.CancelCauseFunc, h *heard) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.w.recovered("lease", func() { c.renewUntil(ctx, t, end, h) }) {
			end(store.ErrLeaseLost) // not renewed any more: the turn must not go on as if it were
		}
	}()
	return done
}

// renewUntil is keepLease's loop. It renews on the grid of RenewEvery (onGrid), as the
// Worker's other replies do, so that their renewals go to Redis together (group). While the
// reply's deltas are written, each of which checks the lease and reports a stop, a renewal is
// skipped until the lease needs writing again (Lease/3 after it last was): a streaming reply
// renews every Lease/3, not every RenewEvery, and a stop is seen with the next delta.
func (c *consumer) renewUntil(ctx context.Context, t store.Turn, end context.CancelCauseFunc, h *heard) {
	every := c.w.opt.RenewEvery
	next := func() time.Duration { return time.Until(onGrid(time.Now().Add(every), every)) }
	timer := time.NewTimer(next())
	defer timer.Stop()
	var extended time.Time // the first tick renews: when begin_turn wrote the lease is not known here
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(next())
		if h.since() < every && time.Since(extended) < c.w.opt.Lease/3 {
			continue
		}
		r := c.w.renew.do(ctx, store.Renewal{Turn: t, Lease: c.w.opt.Lease})
		switch {
		case ctx.Err() != nil:
			return // the turn ended while its renewal was written with others'
		case errors.Is(r.Err, store.ErrLeaseLost):
			end(store.ErrLeaseLost)
			return
		case r.Err != nil:
			c.log.WarnContext(turnContext(t), "renewing the session lease failed", "seq", t.Seq, "err", r.Err)
			continue
		}
		extended = time.Now() // not h.now(): a silent reply's renewals are its only stop check
		if r.Stop {
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
