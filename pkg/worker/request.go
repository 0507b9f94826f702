package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

// handle works on one request entry until its message is answered (then acknowledges it) or
// the consumer stops (then hands it back).
func (c *consumer) handle(e store.RequestEntry) {
	select {
	case c.slot <- struct{}{}:
	case <-c.intake.Done():
		c.handBack(e)
		return
	}
	defer func() { <-c.slot }()
	c.w.metrics.inFlight.Inc()
	defer c.w.metrics.inFlight.Dec()
	defer func() {
		if r := recover(); r != nil {
			// Not handed back: if it panics again, let it come back only after claim_idle.
			c.log.Error("request handler panicked; the request is left to be taken over after claim_idle",
				"request", e.ID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	j := &job{e: e}
	switch {
	case !c.process(j):
		c.handBack(e)
	case j.acked: // by the step that stored its turn (store.FinishTurnAck)
		c.w.metrics.processed.Inc()
	case j.covered:
		c.w.metrics.covered.Inc()
		c.ack(e)
	default:
		c.ack(e)
	}
}

// process reports whether e is done with: its message is answered, its session is gone, or it
// is malformed (dead-lettered). false: the consumer stopped before.
//
// The request is acknowledged only once the session's done count reaches its seq: either
// BeginTurn says so, or this attempt finished that turn. An attempt that loses the lease
// midway (it stalled and another took the session over) abandons its turn, writes nothing more,
// and comes back here: BeginTurn then reports the session busy while the other attempt works,
// done once it has answered, or free again if that one died too. So the request keeps
// guaranteeing that its message gets answered until it is, and is never acknowledged early.
//
// A session whose data Redis refuses to work with (store.IsRefused: a key of the wrong type, a
// damaged entry) would hold the request forever: after maxRefusals refusals in a row, or one
// refused finish, the request is dead-lettered and acknowledged.
func (c *consumer) process(j *job) bool {
	e := j.e
	req, err := chat.DecodeRequest(e.Fields)
	if err != nil {
		c.deadLetterMalformed(e)
		return true
	}
	j.req = req
	// One holder name for the whole job: a lease this job took and failed to give back is
	// recognised as its own (renewed), never mistaken for another attempt that covers it.
	holder := c.w.newHolder(c.name)
	wait := retry.Backoff{Base: 50 * time.Millisecond, Max: 2 * time.Second}
	refusals := 0
	for {
		if c.stopped() {
			return false
		}
		t, state, err := c.st.BeginTurn(c.work, req.Token, holder, 2*c.w.opt.History, c.w.opt.Lease)
		switch {
		case damaged(t, state, err):
			// The lease is ours but the pending message cannot be decoded: answer it with an
			// error so the session goes on.
			c.skipDamaged(j, t, err)
			if j.refused != nil {
				return c.giveUp(j)
			}
			continue
		case err != nil:
			c.log.Warn("beginning a turn failed", "request", e.ID, "err", err)
			if !store.IsRefused(err) {
				refusals = 0
			} else if refusals++; refusals >= maxRefusals {
				j.refused = err
				return c.giveUp(j)
			}
			if !wait.Wait(c.intake) {
				return false
			}
			continue
		}
		refusals = 0
		switch state {
		case store.TurnDone, store.TurnGone:
			return true
		case store.TurnBusy:
			// Another attempt has the session. It goes on while anything is pending, this
			// message included, and its own request stays pending until nothing is: if it dies,
			// that request is taken over and the session's backlog with it. So this request is
			// covered, and acknowledged now rather than holding a slot while it waits.
			j.covered = true
			return true
		}
		idle := c.converse(j, t)
		if j.refused != nil {
			return c.giveUp(j)
		}
		if idle {
			// Nothing of the session is pending: this request and those it covered are answered.
			return true
		}
		if c.stopped() {
			return false
		}
		if !wait.Wait(c.intake) {
			return false
		}
	}
}

// converse answers turn t and, while more of the session is pending, the turns after it under
// the same lease. It reports whether it left the session idle: nothing pending (the last finish
// released the lease), gone, or in another attempt's hands (which then answers the rest).
func (c *consumer) converse(j *job, t store.Turn) bool {
	for {
		fin, ok := c.answer(j, t)
		if !ok {
			// Not stored: give the lease back unless it is lost already (then this is a no-op),
			// so the next attempt need not wait for it to expire.
			c.release(t)
			return false
		}
		if !fin.More {
			return true
		}
		if c.stopped() {
			c.release(t)
			return false
		}
		next, state, err := c.st.BeginTurn(c.work, t.Token, t.Holder, 2*c.w.opt.History, c.w.opt.Lease)
		switch {
		case damaged(next, state, err):
			c.skipDamaged(j, next, err)
			return false
		case err != nil:
			c.log.Warn("going on with the next turn failed", "request", j.e.ID, "err", err)
			c.release(t)
			return false
		case state != store.TurnReady:
			return true
		}
		t = next
	}
}

// The last steps of a request (store its turn, acknowledge, dead-letter) are tried stepTries
// times, stepRetry apart (100ms, then 200ms). The waits end when the shutdown time is up; the
// calls themselves are never cut short.
const stepTries = 3

var stepRetry = retry.Backoff{Base: 100 * time.Millisecond}

// ack acknowledges e, up to stepTries times. If it still fails the request stays pending and
// is taken over later, found done and acknowledged then.
func (c *consumer) ack(e store.RequestEntry) {
	ctx := context.WithoutCancel(c.work)
	err := retry.Do(c.work, stepRetry, stepTries, func(int) error {
		return c.st.AckRequests(ctx, e.Partition, e.ID)
	})
	if err != nil {
		c.log.Error("acknowledging a request failed; it will be taken over and acknowledged later", "request", e.ID, "err", err)
		return
	}
	c.w.metrics.processed.Inc()
}

// handBack makes e idle for ClaimIdle, so that the next reclaim of any consumer takes it at
// once, instead of waiting ClaimIdle for it.
func (c *consumer) handBack(e store.RequestEntry) {
	c.held.remove(e.Partition, e.ID) // first, so that no keep-alive undoes it
	n, err := c.st.HandBackRequests(context.WithoutCancel(c.work), e.Partition, c.name, []string{e.ID}, c.w.opt.ClaimIdle)
	if err != nil {
		c.log.Warn("handing a request back failed; it will be taken over after claim_idle", "request", e.ID, "err", err)
		return
	}
	c.w.metrics.handedBack.Add(float64(n))
}

// release gives the session's lease back, so that whoever goes on with it need not wait for it
// to expire.
func (c *consumer) release(t store.Turn) {
	if err := c.st.ReleaseLease(context.WithoutCancel(c.work), t.Token, t.Holder); err != nil {
		c.log.Warn("releasing a session lease failed; it expires by itself", "err", err)
	}
}

// deadLetterMalformed moves an entry that is not a request to chat:dead.
func (c *consumer) deadLetterMalformed(e store.RequestEntry) {
	why := "malformed request entry: want fields token (a session token) and seq (a number > 0)"
	if e.Fields == nil {
		why = "request entry no longer in its stream (trimmed while pending)"
	}
	c.log.Error("dead-lettering a request that cannot be read", "request", e.ID, "partition", e.Partition, "why", why)
	c.deadLetter(store.DeadLetter{Partition: e.Partition, RequestID: e.ID, Fields: e.Fields, Error: why, Consumer: c.name}, "malformed")
}

// deadLetter appends d to chat:dead, up to stepTries times.
func (c *consumer) deadLetter(d store.DeadLetter, reason string) {
	ctx := context.WithoutCancel(c.work)
	err := retry.Do(c.work, stepRetry, stepTries, func(int) error {
		_, err := c.st.AddDeadLetter(ctx, d)
		return err
	})
	if err != nil {
		c.log.Error("dead-lettering failed", "request", d.RequestID, "error_to_record", d.Error, "err", err)
		return
	}
	c.w.metrics.dead.WithLabelValues(reason).Inc()
}

// skipDamaged answers a pending message that cannot be decoded with an error event, so the
// session goes on, and dead-letters it. (The damaged entry moves to the history as it is; the
// history readers skip what they cannot decode.)
func (c *consumer) skipDamaged(j *job, t store.Turn, cause error) {
	c.log.Error("a pending message is damaged; skipping it", "request", j.e.ID, "seq", t.Seq, "err", cause)
	ev := chat.ErrorEvent(chat.CodeModelError, "This message could not be read, so it was not answered.", t.Message.ID)
	// Whatever happens, give the lease back: the caller begins again with a new holder.
	defer c.release(t)
	if _, ok := c.finish(j, t, nil, ev); !ok {
		return
	}
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: requestFields(t),
		Error: "damaged pending message: " + cause.Error(), Consumer: c.name,
	}, "damaged")
}

// finish stores turn t with its reply (nil: none) and event, up to stepTries times on Redis
// errors. ok is false when the turn could not be stored: the lease was lost, the session is
// gone, or Redis kept failing.
func (c *consumer) finish(j *job, t store.Turn, reply *chat.Message, ev chat.Event) (store.Finished, bool) {
	ctx := context.WithoutCancel(c.work)
	ref := store.RequestRef{Partition: j.e.Partition, ID: j.e.ID, Seq: j.req.Seq}
	var fin store.Finished
	err := retry.Do(c.work, stepRetry, stepTries, func(try int) error {
		var err error
		fin, err = c.st.FinishTurnAck(ctx, t, reply, ev, ref)
		switch {
		case err == nil:
			j.acked = j.acked || fin.Acked
			return nil
		case errors.Is(err, store.ErrStaleTurn):
			// Our previous try was stored and its answer lost on the way back. Whether more is
			// pending is unknown: BeginTurn will tell.
			fin = store.Finished{More: true}
			return nil
		case errors.Is(err, store.ErrLeaseLost), errors.Is(err, store.ErrSessionNotFound):
			return retry.Stop(err)
		case store.IsRefused(err):
			j.refused = err
			return retry.Stop(err)
		}
		c.log.Warn("storing a turn failed", "seq", t.Seq, "try", try, "err", err)
		return err
	})
	return fin, err == nil
}

// damaged reports BeginTurn's answer "the lease is yours, but the pending message cannot be
// decoded" (a failed BeginTurn also reports the zero state, TurnReady, without a turn).
func damaged(t store.Turn, state store.TurnState, err error) bool {
	return errors.Is(err, store.ErrDamagedMessage) && state == store.TurnReady && t.Seq > 0
}

// maxRefusals is how many refusals in a row (store.IsRefused) a request gets before it is
// dead-lettered.
const maxRefusals = 5

// job is one request being worked on.
type job struct {
	covered bool // another attempt had the session: its request covers this one
	e       store.RequestEntry
	req     chat.Request
	refused error // Redis refused a step: the session's data is unusable
	acked   bool  // the request was acknowledged when its turn was stored
}

// giveUp dead-letters and acknowledges a request whose session Redis refuses to work with.
func (c *consumer) giveUp(j *job) bool {
	c.log.Error("Redis refuses to work on the session; dead-lettering the request", "request", j.e.ID, "err", j.refused)
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: j.e.Fields,
		Error: "Redis refused to work on the session: " + j.refused.Error(), Consumer: c.name,
	}, "refused")
	return true
}

// requestFields are the fields of a request for turn t, for its dead letter.
func requestFields(t store.Turn) map[string]string {
	return map[string]string{chat.ReqFieldToken: t.Token, chat.ReqFieldSeq: strconv.FormatInt(t.Seq, 10)}
}
