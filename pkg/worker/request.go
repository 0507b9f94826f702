package worker

// What becomes of a request entry in the group once the work on it ends: acknowledged, handed
// back, or copied to chat:dead.

import (
	"context"
	"strconv"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

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

// requestFields are the fields of a request for turn t, for its dead letter.
func requestFields(t store.Turn) map[string]string {
	return map[string]string{chat.ReqFieldToken: t.Token, chat.ReqFieldSeq: strconv.FormatInt(t.Seq, 10)}
}
