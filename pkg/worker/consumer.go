package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

// consumer is one member of the workers group: a reader loop per partition, a reclaimer, a
// keep-alive of what it holds, and up to Concurrency requests worked on at once.
type consumer struct {
	w     *Worker
	st    *store.Store
	name  string
	log   *slog.Logger
	parts int

	gate *gate         // room for requests: how many are held (read and not yet done with) bounds reading
	slot chan struct{} // requests being worked on: at most Concurrency
	held heldIDs       // which requests are held: what the keep-alive renews

	intake   context.Context // Run's context: the consumer takes work until it ends
	work     context.Context // every call made for a request; cancelled when shutdown time is up
	handlers sync.WaitGroup
}

func newConsumer(w *Worker, name string) *consumer {
	return &consumer{
		w: w, st: w.st, name: name, log: w.log.With("consumer", name),
		parts: w.st.Options().Partitions,
		gate:  newGate(w.opt.Concurrency),
		slot:  make(chan struct{}, w.opt.Concurrency),
		held:  heldIDs{ids: map[int]map[string]bool{}},
	}
}

// run consumes until ctx ends, then drains: see the package doc.
func (c *consumer) run(ctx context.Context) error {
	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	c.intake, c.work = ctx, work

	keepCtx, stopKeep := context.WithCancel(work)
	defer stopKeep()
	var keeper sync.WaitGroup
	keeper.Go(func() { c.w.guard(keepCtx, "keep-alive", func() { c.keepAlive(keepCtx) }) })

	var loops sync.WaitGroup
	for p := range c.parts {
		loops.Go(func() { c.w.guard(ctx, "read", func() { c.read(ctx, p) }) })
	}
	loops.Go(func() { c.w.guard(ctx, "reclaim", func() { c.reclaim(ctx) }) })

	<-ctx.Done()
	deadline := time.NewTimer(c.w.opt.ShutdownTimeout)
	defer deadline.Stop()
	loops.Wait() // a read in progress ends within Block; what it got is handed back
	drained := make(chan struct{})
	go func() {
		c.handlers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-deadline.C:
		c.log.Warn("shutdown time is up: abandoning the requests still in flight", "in_flight", c.gate.count())
		abandon()
		<-drained
	}
	stopKeep()
	keeper.Wait()
	c.forget()
	return nil
}

// forget removes the consumer from the group where it holds nothing any more, so the group does
// not collect the names of stopped processes.
func (c *consumer) forget() {
	ctx := context.WithoutCancel(c.work)
	for p := range c.parts {
		if _, err := c.st.RemoveConsumer(ctx, p, c.name); err != nil {
			c.log.Debug("could not remove the consumer from the group", "partition", p, "err", err)
		}
	}
}

// read is the loop of partition p: first what this consumer name left pending in an earlier
// life, then new requests, COUNT = its share of the free slots, BLOCK = Options.Block.
func (c *consumer) read(ctx context.Context, p int) {
	c.resume(ctx, p)
	fails := retry.Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		n := c.gate.reserve(ctx, c.parts)
		if n == 0 {
			return
		}
		// Never cancel a blocking read (rueidis closes its connection): it ends within Block.
		got, err := c.st.ReadRequests(context.WithoutCancel(ctx), p, c.name, n, c.w.opt.Block)
		if err != nil {
			c.gate.unreserve(n)
			c.log.Warn("reading requests failed", "partition", p, "err", err)
			if !fails.Wait(ctx) {
				return
			}
			continue
		}
		fails.Reset()
		c.dispatch(got, n) // even when ctx ended meanwhile: the handlers hand them back
		if ctx.Err() != nil {
			return
		}
	}
}

// resume picks up the requests this consumer name was given and did not acknowledge before,
// when a process restarts with the same name.
func (c *consumer) resume(ctx context.Context, p int) {
	after := "0"
	for {
		n := c.gate.reserve(ctx, c.parts)
		if n == 0 {
			return
		}
		got, err := c.st.ReadOwnPending(ctx, p, c.name, after, n)
		if err != nil || len(got) == 0 {
			c.gate.unreserve(n)
			if err != nil {
				c.log.Warn("reading own pending requests failed; they will be taken over after claim_idle", "partition", p, "err", err)
			}
			return
		}
		c.log.Info("resuming requests left pending by an earlier process of this name", "partition", p, "requests", len(got))
		after = got[len(got)-1].ID
		c.dispatch(got, n)
	}
}

// reclaim takes over, every ClaimIdle/4, the requests that have sat idle with any consumer for
// ClaimIdle: their consumer stopped keeping them alive, so it is dead or cut off.
func (c *consumer) reclaim(ctx context.Context) {
	tick := time.NewTicker(max(c.w.opt.ClaimIdle/4, 50*time.Millisecond))
	defer tick.Stop()
	cursor := make([]string, c.parts)
	for p := range cursor {
		cursor[p] = "0-0"
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for p := range c.parts {
			room := c.gate.room()
			if room <= 0 || ctx.Err() != nil {
				break
			}
			got, next, trimmed, err := c.st.ClaimRequests(ctx, p, c.name, c.w.opt.ClaimIdle, cursor[p], room)
			if err != nil {
				c.log.Warn("taking over idle requests failed", "partition", p, "err", err)
				continue
			}
			cursor[p] = next
			if len(trimmed) > 0 {
				c.log.Error("pending requests were trimmed from their stream before they were answered (raise stream.max_len); their sessions go on with their next message",
					"partition", p, "requests", len(trimmed))
			}
			if len(got) > 0 {
				c.log.Info("took over requests of a consumer that stopped", "partition", p, "requests", len(got))
				c.w.metrics.reclaimed.Add(float64(len(got)))
			}
			c.dispatch(got, 0)
		}
	}
}

// keepAlive resets, every ClaimIdle/3, the idle time of the requests this consumer holds, so
// that no reclaimer takes a request that is being worked on, however long the reply takes.
func (c *consumer) keepAlive(ctx context.Context) {
	tick := time.NewTicker(max(c.w.opt.ClaimIdle/3, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for p := range c.parts {
			ids := c.held.list(p)
			if len(ids) == 0 {
				continue
			}
			owned, err := c.st.KeepRequests(ctx, p, c.name, ids)
			if err != nil {
				c.log.Warn("keeping requests alive failed", "partition", p, "err", err)
				continue
			}
			if len(owned) == len(ids) {
				continue
			}
			// The others were acknowledged meanwhile (a finish that acknowledges in the same
			// step does so before its handler lets go of the request) or taken by another
			// consumer: only those are lost.
			taken, err := c.st.TakenRequests(ctx, p, c.name, missing(ids, owned))
			if err != nil {
				c.log.Warn("checking requests not kept alive failed", "partition", p, "err", err)
				continue
			}
			if lost := c.held.lost(p, taken); lost > 0 {
				c.w.metrics.lost.Add(float64(lost))
				c.log.Warn("requests were taken over by another consumer while held here (keep-alive too late); the session lease keeps them answered once",
					"partition", p, "requests", lost)
			}
		}
	}
}

// dispatch starts a handler for each request not already held here, in the room reserved for
// them (reserved; the rest is given back), or beyond it (a takeover).
func (c *consumer) dispatch(entries []store.RequestEntry, reserved int) {
	defer func() { c.gate.unreserve(reserved) }()
	read := time.Now()
	for _, e := range entries {
		if !c.held.add(e.Partition, e.ID) {
			continue
		}
		c.gate.hold(reserved > 0)
		reserved--
		c.handlers.Go(func() {
			defer c.gate.done()
			defer c.held.remove(e.Partition, e.ID)
			c.handle(e, read)
		})
	}
}

// stopped reports whether the consumer stopped taking work.
func (c *consumer) stopped() bool { return c.intake.Err() != nil }

// missing is the IDs of asked that are not in got.
func missing(asked, got []string) []string {
	have := make(map[string]bool, len(got))
	for _, id := range got {
		have[id] = true
	}
	var out []string
	for _, id := range asked {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}
