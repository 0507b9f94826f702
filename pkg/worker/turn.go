package worker

// The life of one request, top to bottom: handle takes a slot and settles the request by the
// outcome of process; process begins turns of the request's session until its message is
// answered; converse answers a turn, and those pending after it, under one lease; answer
// generates one reply (generate.go, lease.go) and store or fail ends the turn through finish.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

// outcome is how the work on a request ended, and so what becomes of the request.
type outcome int

const (
	// again: not done with yet; process begins another turn. process never returns it.
	again outcome = iota
	// stopped: the consumer stopped taking work first. The request is handed back, for
	// another consumer to take at once.
	stopped
	// answered: its message is answered (by this attempt or an earlier one), or the session is
	// now in another attempt's hands, which answers what is left. It is acknowledged.
	answered
	// acked: answered, and acknowledged by the same step that stored its turn
	// (store.FinishTurnAck, on a single Redis).
	acked
	// requeued: its session has more to answer, but requests wait for a slot: it was put back at
	// the end of its stream (a new request, this one acknowledged) and the lease released. (Or
	// another consumer had taken it over: that one answers.) Nothing more to do with it.
	requeued
	// covered: another attempt holds the session's lease; it answers this message too, and its
	// own request stays pending until nothing is. It is acknowledged now rather than holding a
	// slot while it waits.
	covered
	// gone: the session is gone (deleted or expired): nothing is left to answer. It is
	// acknowledged.
	gone
	// deadLettered: the request cannot be worked on (malformed, or Redis refuses its
	// session's data): it was copied to chat:dead, and is acknowledged.
	deadLettered
	// newer: the entry is of a newer format than this worker reads (a rolling deploy): it is
	// left pending as it is, neither acknowledged nor kept alive, so that after claim_idle
	// another consumer takes it over, until a newer worker answers it.
	newer
)

// job is the request being worked on: its entry and what it asks for, and the context of its
// attempt's span (c.work's when not tracing).
type job struct {
	e   store.RequestEntry
	req chat.Request
	ctx context.Context
}

// maxRefusals is how many refusals in a row (store.IsRefused) a request gets before it is
// dead-lettered.
const maxRefusals = 5

// handle works on one request entry until its message is answered (then acknowledges it) or
// the consumer stops (then hands it back). A panic is recovered and logged.
func (c *consumer) handle(e store.RequestEntry, read time.Time) {
	select {
	case c.slot <- struct{}{}:
	case <-c.intake.Done():
		c.handBack(e)
		return
	}
	defer func() { <-c.slot }()
	if at := chat.IDTime(e.ID); !at.IsZero() {
		c.w.metrics.slotWait.Observe(max(time.Since(at), 0).Seconds())
		if e.Deliveries == 1 {
			// A first delivery: one taken over waited for a worker that died as well.
			c.w.metrics.queueWait.Observe(sinceClamped(at, read).Seconds())
		}
	}
	c.w.metrics.inFlight.Inc()
	defer c.w.metrics.inFlight.Dec()
	c.w.metrics.slotsBusy.Inc()
	defer c.w.metrics.slotsBusy.Dec()
	defer func() {
		if r := recover(); r != nil {
			// Not handed back: if it panics again, let it come back only after claim_idle, and
			// past worker.max_deliveries to chat:dead (process).
			c.w.metrics.panics.WithLabelValues("handler").Inc()
			c.log.Error("request handler panicked; the request is left to be taken over after claim_idle",
				"request", e.ID, "deliveries", e.Deliveries, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	switch c.process(e, read) {
	case stopped:
		c.handBack(e)
	case acked:
		c.w.metrics.processed.Inc()
	case covered:
		c.w.metrics.covered.Inc()
		c.ack(e)
	case requeued:
		c.w.metrics.yielded.Inc()
	case answered, gone, deadLettered:
		c.ack(e)
	}
}

// process works on e until it is done with, and says how that ended.
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
func (c *consumer) process(e store.RequestEntry, read time.Time) (o outcome) {
	req, err := chat.DecodeRequest(e.Fields)
	if errors.Is(err, chat.ErrNewerRequest) {
		c.log.Warn("leaving a request of a newer format for a newer worker (a rolling deploy?)",
			"request", e.ID, "partition", e.Partition, "version", e.Fields[chat.ReqFieldVersion], "reads", chat.RequestVersion)
		c.w.metrics.newer.Inc()
		return newer
	}
	if err != nil {
		c.deadLetterMalformed(e)
		return deadLettered
	}
	ctx, span := c.startAttempt(c.work, e, req, read)
	defer func() { endAttempt(span, o) }()
	if e.Deliveries > 1 {
		c.log.InfoContext(ctx, "working on a request taken over from a consumer that stopped", "request", e.ID, "deliveries", e.Deliveries)
	}
	j := job{e: e, req: req, ctx: ctx}
	// One holder name for the whole job: a lease this job took and failed to give back is
	// recognised as its own (renewed), never mistaken for another attempt that covers it.
	holder := c.w.newHolder(c.name)
	defer func() {
		if r := recover(); r != nil {
			// A panic midway leaves no lease behind: the attempt that takes this request over
			// (after claim_idle) must find the session free, not busy with an attempt that is
			// gone (it would count as covered and be acknowledged unanswered).
			c.release(store.Turn{Token: req.Token, Holder: holder})
			panic(r) // handle recovers, logs and counts it
		}
	}()
	wait := retry.Backoff{Base: 50 * time.Millisecond, Max: 2 * time.Second}
	refusals := 0
	// Delivered more than worker.max_deliveries times: every worker that had it died or
	// panicked on it. Its session's next turn is answered with an error instead of the model.
	poison := e.Deliveries > int64(c.w.opt.MaxDeliveries)
	for !c.stopped() {
		t, state, b, err := c.beginTurn(req.Token, holder)
		switch {
		case damaged(t, state, err):
			// The lease is ours but the pending message cannot be decoded: answer it with an
			// error so the session goes on.
			if o := c.skipDamaged(j, t, err); o != again {
				return o
			}
			continue
		case err != nil:
			c.log.WarnContext(j.ctx, "beginning a turn failed", "request", e.ID, "err", err)
			if !store.IsRefused(err) {
				refusals = 0
			} else if refusals++; refusals >= maxRefusals {
				return c.giveUp(j, err)
			}
			if !wait.Wait(c.intake) {
				return stopped
			}
			continue
		}
		refusals = 0
		switch state {
		case store.TurnDone:
			return answered
		case store.TurnGone:
			return gone
		case store.TurnBusy:
			// Another attempt has the session. It goes on while anything is pending, this
			// message included, and its own request stays pending until nothing is: if it dies,
			// that request is taken over and the session's backlog with it.
			return covered
		}
		if poison {
			o, skipped := c.skipPoison(j, t)
			if o != again {
				return o
			}
			poison = !skipped
			continue
		}
		if o := c.converse(j, t, b); o != again {
			return o
		}
		if !wait.Wait(c.intake) {
			return stopped
		}
	}
	return stopped
}

// converse answers turn t and, while more of the session is pending, the turns after it under
// the same lease. It returns answered (or acked) when it leaves the session idle: nothing
// pending (the last finish released the lease), gone, or in another attempt's hands (which
// then answers the rest); deadLettered when Redis refused the session; again when it stopped
// short (the lease is given back).
func (c *consumer) converse(j job, t store.Turn, b began) outcome {
	for {
		fin, err := c.answer(j, t, b)
		if err != nil {
			// Not stored: give the lease back unless it is lost already (then this is a no-op),
			// so the next attempt need not wait for it to expire.
			c.release(t)
			if store.IsRefused(err) {
				return c.giveUp(j, err)
			}
			return again
		}
		if !fin.More {
			if fin.Acked {
				return acked
			}
			return answered
		}
		if c.stopped() {
			c.release(t)
			return again
		}
		if c.gate.isStarved() {
			// Requests wait for room: let them have this slot, and the session its turn after them.
			if o := c.yield(j, t); o != again {
				return o
			}
		}
		next, state, nb, err := c.beginTurn(t.Token, t.Holder)
		switch {
		case damaged(next, state, err):
			return c.skipDamaged(j, next, err)
		case err != nil:
			c.log.WarnContext(j.ctx, "going on with the next turn failed", "request", j.e.ID, "err", err)
			c.release(t)
			return again
		case state != store.TurnReady:
			return answered
		}
		t, b = next, nb
	}
}

// yield gives the session back after a turn, while it has more to answer: the lease is
// released, then the request is put back at the end of its stream (store.Requeue), so the
// requests read before it get a slot first. The lease goes first, marked queued
// (store.YieldLease) for up to a lease's time: a message sent to the session meanwhile queues
// no request, since the one put back answers it (otherwise every message of a waiting session
// would add a request, and the line grow with them). again: the requeue failed, the lease is
// taken anew.
func (c *consumer) yield(j job, t store.Turn) outcome {
	if err := c.st.YieldLease(context.WithoutCancel(c.work), t.Token, t.Holder, c.w.opt.Lease); err != nil {
		c.log.Warn("giving a session's lease back failed; it expires by itself", "err", err)
	}
	ok, err := c.st.Requeue(context.WithoutCancel(c.work), j.e.Partition, c.name, j.e.ID, t.Token, max(j.req.Seq, t.Seq+1), j.req.Traceparent)
	switch {
	case err != nil:
		c.log.Warn("putting a request back failed; going on with its session", "request", j.e.ID, "err", err)
		return again
	case !ok:
		// Another consumer took the request over meanwhile: it answers the session. Not ours to
		// acknowledge.
		c.log.Warn("a request was taken over while held here (keep-alive too late)", "request", j.e.ID)
	}
	return requeued
}

// answer generates and stores the reply to turn t. A nil error: stored. Otherwise the turn was
// not stored: the lease was lost (another attempt answers it), the shutdown time ran out (the
// caller releases the lease and the request is handed back), Redis refused the session
// (store.IsRefused) or kept failing.
func (c *consumer) answer(j job, t store.Turn, b began) (fin store.Finished, err error) {
	ctx, span := c.startTurn(j, &t, b)
	result := "abandoned"
	defer func() {
		if err != nil {
			result = "abandoned"
		}
		endTurn(span, result, err)
	}()
	if t.Stop {
		// Stopped before it began: store an empty, stopped reply.
		result = "stopped"
		return c.store(j, t, c.reply(t, "", true, nil), "stopped")
	}
	if !t.Quota {
		// auth.mode jwt: the user's budget is checked, and the turn's tokens reserved, here.
		switch err := c.st.Reserve(ctx, t); {
		case errors.Is(err, store.ErrQuota):
			t.Quota = true
		case err != nil:
			c.log.WarnContext(ctx, "reserving the turn's tokens failed", "seq", t.Seq, "err", err)
			return store.Finished{}, err
		}
	}
	if t.Quota {
		result = "quota"
		return c.refuse(j, t)
	}
	msgs := prompt(c.w.opt.SystemPrompt, t.History, c.w.opt.History, t.Message)

	// gen ends the generation: the user stopped it, or the lease was lost.
	gen, end := context.WithCancelCause(ctx)
	defer end(nil)
	lease, stopLease := context.WithCancel(c.work)
	var h heard
	renewer := c.keepLease(lease, t, end, &h)
	defer func() {
		stopLease()
		<-renewer
	}()

	sink := newDeltaSink(c, t, end, &h)
	start := time.Now()
	text, attempts, spent, err := c.generate(gen, t, msgs, sink)
	deltas := sink.close()
	why := context.Cause(gen)
	t.Usage = &spent

	switch {
	case errors.Is(why, store.ErrLeaseLost):
		c.log.InfoContext(ctx, "lost the session to another attempt; it answers this turn", "seq", t.Seq)
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return store.Finished{}, store.ErrLeaseLost
	case errors.Is(why, errStopped):
		t.Deltas = deltas
		result = "stopped"
		return c.store(j, t, c.reply(t, text, true, &spent), "stopped")
	case c.work.Err() != nil:
		c.log.WarnContext(ctx, "shutdown time is up: abandoning a reply", "seq", t.Seq)
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return store.Finished{}, c.work.Err()
	case err != nil:
		result = "failed"
		return c.fail(j, t, err, attempts, time.Since(start))
	}
	// Storing the reply drops its deltas; those of a failed turn stay (no reply has the text).
	t.Deltas = deltas
	result = "answered"
	return c.store(j, t, c.reply(t, text, false, &spent), "answered")
}

// store finishes t with reply and its message event; result names the turn in the metrics.
// The event of a regeneration's reply names the reply it replaces.
func (c *consumer) store(j job, t store.Turn, reply *chat.Message, result string) (store.Finished, error) {
	ev := chat.MessageEvent(*reply)
	if t.Regen != nil {
		ev.Replaces = t.Regen.Replaces
	}
	fin, err := c.finish(j, t, reply, ev)
	if err != nil {
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return fin, err
	}
	c.w.metrics.turns.WithLabelValues(result).Inc()
	return fin, nil
}

// refuse answers t with the quota error, without calling the model: the day's token budget of
// the session's user is spent.
func (c *consumer) refuse(j job, t store.Turn) (store.Finished, error) {
	fin, err := c.finish(j, t, nil, chat.QuotaEvent(c.st.RetryAt(), t.Message.ID))
	if err != nil {
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return fin, err
	}
	c.w.metrics.turns.WithLabelValues("quota").Inc()
	return fin, nil
}

// fail finishes t without a reply after the model failed past its retries: the user gets an
// error event, the session goes on with its next message, and the request goes to chat:dead.
func (c *consumer) fail(j job, t store.Turn, err error, attempts int, took time.Duration) (store.Finished, error) {
	desc := llm.Describe(err)
	c.log.ErrorContext(turnContext(t), "the model failed past its retries; the user gets an error", "seq", t.Seq, "attempts", attempts, "took", took, "err", err)
	ev := chat.ErrorEvent(chat.CodeModelError, "The model could not answer this message: "+desc+". Please try again.", t.Message.ID)
	fin, ferr := c.finish(j, t, nil, ev)
	if ferr != nil {
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return fin, ferr
	}
	c.w.metrics.turns.WithLabelValues("failed").Inc()
	c.w.metrics.failed.Inc()
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: requestFields(t), MessageID: t.Message.ID,
		Error: desc + ": " + err.Error(), Consumer: c.name, Attempts: attempts,
	}, "model_error")
	return fin, nil
}

// skipDamaged answers a pending message that cannot be decoded with an error event, so the
// session goes on, and dead-letters it. (The damaged entry moves to the history as it is; the
// history readers skip what they cannot decode.) It returns again, unless that finish
// acknowledged the request (acked) or Redis refused it (deadLettered).
func (c *consumer) skipDamaged(j job, t store.Turn, cause error) outcome {
	c.log.ErrorContext(j.ctx, "a pending message is damaged; skipping it", "request", j.e.ID, "seq", t.Seq, "err", cause)
	ev := chat.ErrorEvent(chat.CodeModelError, "This message could not be read, so it was not answered.", t.Message.ID)
	// Whatever happens, give the lease back: the request begins its next turn afresh.
	defer c.release(t)
	fin, err := c.finish(j, t, nil, ev)
	switch {
	case store.IsRefused(err):
		return c.giveUp(j, err)
	case err != nil:
		return again
	}
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: requestFields(t),
		Error: "damaged pending message: " + cause.Error(), Consumer: c.name,
	}, "damaged")
	if fin.Acked {
		return acked
	}
	return again
}

// giveUp dead-letters a request whose session Redis refuses to work with.
// skipPoison answers turn t of a request delivered more than worker.max_deliveries times with a
// model_error, without calling the model, and dead-letters the request (reason
// max_deliveries); skipped reports that the turn was stored. The session then goes on: the
// request begins its next turn as usual.
func (c *consumer) skipPoison(j job, t store.Turn) (o outcome, skipped bool) {
	why := fmt.Sprintf("delivered %d times (worker.max_deliveries %d): every worker that took it died or panicked on it",
		j.e.Deliveries, c.w.opt.MaxDeliveries)
	c.log.ErrorContext(j.ctx, "answering a poison request's message with model_error and dead-lettering it", "request", j.e.ID, "seq", t.Seq, "why", why)
	ev := chat.ErrorEvent(chat.CodeModelError, "This message could not be answered.", t.Message.ID)
	defer c.release(t)
	fin, err := c.finish(j, t, nil, ev)
	switch {
	case store.IsRefused(err):
		return c.giveUp(j, err), false
	case err != nil:
		return again, false
	}
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: j.e.Fields, MessageID: t.Message.ID,
		Error: why, Consumer: c.name,
	}, "max_deliveries")
	if fin.Acked {
		return acked, true
	}
	return again, true
}

func (c *consumer) giveUp(j job, refused error) outcome {
	c.log.ErrorContext(j.ctx, "Redis refuses to work on the session; dead-lettering the request", "request", j.e.ID, "err", refused)
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: j.e.Fields,
		Error: "Redis refused to work on the session: " + refused.Error(), Consumer: c.name,
	}, "refused")
	return deadLettered
}

// finish stores turn t with its reply (nil: none) and event, up to stepTries times on Redis
// errors. A nil error: stored (when an earlier try was stored and its answer lost on the way
// back, More is true: BeginTurn tells what is left). Otherwise the turn is not stored: the
// lease was lost (store.ErrLeaseLost), the session is gone (store.ErrSessionNotFound), Redis
// refused the session's data (store.IsRefused), or Redis kept failing.
func (c *consumer) finish(j job, t store.Turn, reply *chat.Message, ev chat.Event) (store.Finished, error) {
	ctx := context.WithoutCancel(c.work)
	ref := store.RequestRef{Partition: j.e.Partition, ID: j.e.ID, Seq: j.req.Seq}
	ev.Traceparent = t.Traceparent
	span := c.startFinish(t)
	var fin store.Finished
	err := retry.Do(c.work, stepRetry, stepTries, func(try int) error {
		var err error
		fin, err = c.st.FinishTurnAck(ctx, t, reply, ev, ref)
		if fin.Unsettled != nil {
			c.log.WarnContext(turnContext(t), "counting the turn's usage failed", "seq", t.Seq, "err", fin.Unsettled)
		}
		if t.User != "" {
			// The user's usage was settled beside the first try (or failed to be): never twice.
			t.Usage = nil
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrStaleTurn):
			// Our previous try was stored and its answer lost on the way back. Whether more is
			// pending is unknown: BeginTurn will tell.
			fin = store.Finished{More: true}
			return nil
		case errors.Is(err, store.ErrLeaseLost), errors.Is(err, store.ErrSessionNotFound), store.IsRefused(err):
			return retry.Stop(err)
		}
		c.log.WarnContext(turnContext(t), "storing a turn failed", "seq", t.Seq, "try", try, "err", err)
		return err
	})
	endSpan(span, err)
	if err != nil {
		return store.Finished{}, err
	}
	c.w.metrics.reply.Observe(sinceClamped(replyStart(j, t), time.Now()).Seconds())
	return fin, nil
}

// replyStart is when the message of turn t was queued: its request entry's time when the
// turn answers the job's own message, else the message's timestamp (serve stamps it as it
// queues it; a message sent while an attempt held the session has no request of its own).
func replyStart(j job, t store.Turn) time.Time {
	if t.Seq != j.req.Seq && t.Regen == nil && !t.Message.Timestamp.IsZero() {
		return t.Message.Timestamp
	}
	return chat.IDTime(j.e.ID)
}

// damaged reports BeginTurn's answer "the lease is yours, but the pending message cannot be
// decoded" (a failed BeginTurn also reports the zero state, TurnReady, without a turn).
func damaged(t store.Turn, state store.TurnState, err error) bool {
	return errors.Is(err, store.ErrDamagedMessage) && state == store.TurnReady && t.Seq > 0
}
