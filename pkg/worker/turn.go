package worker

import (
	"context"
	"errors"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"

	"github.com/google/uuid"
)

// errStopped is the cause of a generation the user stopped.
var errStopped = errors.New("stopped by the user")

// answer generates and stores the reply to turn t. ok is false when the turn was not stored:
// the lease was lost (another attempt answers it), the shutdown time ran out (the caller
// releases the lease and the request is handed back), or Redis failed.
func (c *consumer) answer(j *job, t store.Turn) (fin store.Finished, ok bool) {
	if t.Stop {
		// Stopped before it began: store an empty, stopped reply.
		return c.store(j, t, c.reply(t, "", true), "stopped")
	}
	msgs := prompt(c.w.opt.SystemPrompt, t.History, c.w.opt.History, t.Message)

	// gen ends the generation: the user stopped it, or the lease was lost.
	gen, end := context.WithCancelCause(c.work)
	defer end(nil)
	lease, stopLease := context.WithCancel(c.work)
	renewer := c.keepLease(lease, t, end)
	defer func() {
		stopLease()
		<-renewer
	}()

	sink := newDeltaSink(c, t, end)
	start := time.Now()
	text, attempts, err := c.generate(gen, t, msgs, sink)
	sink.close()
	why := context.Cause(gen)

	switch {
	case errors.Is(why, store.ErrLeaseLost):
		c.log.Info("lost the session to another attempt; it answers this turn", "seq", t.Seq)
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return store.Finished{}, false
	case errors.Is(why, errStopped):
		return c.store(j, t, c.reply(t, text, true), "stopped")
	case c.work.Err() != nil:
		c.log.Warn("shutdown time is up: abandoning a reply", "seq", t.Seq)
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return store.Finished{}, false
	case err != nil:
		return c.fail(j, t, err, attempts, time.Since(start))
	}
	return c.store(j, t, c.reply(t, text, false), "answered")
}

// generate calls the model with msgs under the retry policy, its output going to sink. It
// returns the reply (or the text of the last attempt so far), the attempts made and the last
// error.
func (c *consumer) generate(ctx context.Context, t store.Turn, msgs []llm.Message, sink *deltaSink) (string, int, error) {
	var text string
	attempts, err := c.w.opt.Retry.Do(ctx, func(actx context.Context, n int) error {
		if n > 1 {
			c.w.metrics.retries.Inc()
			sink.retry()
		}
		var first bool
		began := time.Now()
		out, err := c.w.opt.Model.Stream(actx, msgs, func(d string) error {
			if !first {
				first = true
				c.w.metrics.firstToken.Observe(time.Since(began).Seconds())
			}
			sink.write(d)
			return nil
		})
		text = out
		result := "ok"
		if err != nil {
			result = "error"
			if ctx.Err() == nil {
				c.log.Warn("model call failed", "seq", t.Seq, "attempt", n, "err", err)
			}
		}
		c.w.metrics.modelSeconds.WithLabelValues(result).Observe(time.Since(began).Seconds())
		return err
	})
	return text, attempts, err
}

// reply is the bot message answering t.
func (c *consumer) reply(t store.Turn, text string, stopped bool) *chat.Message {
	return &chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: text, Timestamp: time.Now().UTC(), ReplyTo: t.Message.ID, Stopped: stopped}
}

// store finishes t with reply and its message event.
func (c *consumer) store(j *job, t store.Turn, reply *chat.Message, result string) (store.Finished, bool) {
	fin, ok := c.finish(j, t, reply, chat.MessageEvent(*reply))
	if !ok {
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return fin, false
	}
	c.w.metrics.turns.WithLabelValues(result).Inc()
	return fin, true
}

// fail finishes t without a reply after the model failed past its retries: the user gets an
// error event, the session goes on with its next message, and the request goes to chat:dead.
func (c *consumer) fail(j *job, t store.Turn, err error, attempts int, took time.Duration) (store.Finished, bool) {
	desc := llm.Describe(err)
	c.log.Error("the model failed past its retries; the user gets an error", "seq", t.Seq, "attempts", attempts, "took", took, "err", err)
	ev := chat.ErrorEvent(chat.CodeModelError, "The model could not answer this message: "+desc+". Please try again.", t.Message.ID)
	fin, ok := c.finish(j, t, nil, ev)
	if !ok {
		c.w.metrics.turns.WithLabelValues("abandoned").Inc()
		return fin, false
	}
	c.w.metrics.turns.WithLabelValues("failed").Inc()
	c.w.metrics.failed.Inc()
	c.deadLetter(store.DeadLetter{
		Partition: j.e.Partition, RequestID: j.e.ID, Fields: requestFields(t), MessageID: t.Message.ID,
		Error: desc + ": " + err.Error(), Consumer: c.name, Attempts: attempts,
	}, "model_error")
	return fin, true
}

// keepLease renews t's lease every RenewEvery until ctx ends. A stop asked by the user ends
// the generation with errStopped (renewing goes on: the partial reply is still to be stored);
// a lost lease ends it with store.ErrLeaseLost. The returned channel closes when it returns.
func (c *consumer) keepLease(ctx context.Context, t store.Turn, end context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(c.w.opt.RenewEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			stop, err := c.st.RenewLease(ctx, t, c.w.opt.Lease)
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				end(store.ErrLeaseLost)
				return
			case err != nil:
				if ctx.Err() == nil {
					c.log.Warn("renewing the session lease failed", "seq", t.Seq, "err", err)
				}
			case stop:
				end(errStopped)
			}
		}
	}()
	return done
}
