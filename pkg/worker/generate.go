package worker

import (
	"context"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"

	"github.com/google/uuid"
)

// generate calls the model with msgs under the retry policy, its output going to sink. It
// returns the reply (or the text of the last attempt so far), the attempts made, the tokens
// they used (turnUsage) and the last error.
func (c *consumer) generate(ctx context.Context, t store.Turn, msgs []llm.Message, sink *deltaSink) (string, int, chat.Usage, error) {
	var (
		text  string
		spent chat.Usage
	)
	if c.w.opt.SendUser {
		ctx = llm.WithUser(ctx, llm.UserID(t.User, t.Token))
	}
	attempts, err := c.w.opt.Retry.Do(ctx, func(actx context.Context, n int) error {
		if n > 1 {
			c.w.metrics.retries.Inc()
			sink.retry()
		}
		var first bool
		began := time.Now()
		var u llm.Usage
		actx = llm.WithUsage(actx, &u)
		span := c.startModelCall(actx, n)
		out, err := c.w.opt.Model.Stream(actx, msgs, func(d string) error {
			if !first {
				first = true
				ttft := time.Since(began)
				c.w.metrics.firstToken.Observe(ttft.Seconds())
				firstToken(span, ttft)
			}
			sink.write(d)
			return nil
		})
		text = out
		before := spent
		addUsage(&spent, u, msgs, out, err == nil)
		endModelCall(span, spent.PromptTokens-before.PromptTokens, spent.CompletionTokens-before.CompletionTokens, u == (llm.Usage{}), err)
		result := "ok"
		if err != nil {
			result = "error"
			if ctx.Err() == nil {
				c.log.WarnContext(actx, "model call failed", "seq", t.Seq, "attempt", n, "err", err)
			}
		}
		c.w.metrics.modelSeconds.WithLabelValues(result).Observe(time.Since(began).Seconds())
		return err
	})
	c.w.metrics.tokens.WithLabelValues("prompt").Add(float64(spent.PromptTokens))
	c.w.metrics.tokens.WithLabelValues("completion").Add(float64(spent.CompletionTokens))
	if spent.Estimated {
		c.w.metrics.estimated.Inc()
	}
	return text, attempts, spent, err
}

// addUsage adds one model call's usage to a turn's: as the provider reported it (u), or, when
// it reported none, estimated from the prompt and the reply (llm.EstimateUsage) and marked so.
// A call that failed before producing anything (no usage, no text: refused, unreachable) is
// counted as nothing.
func addUsage(spent *chat.Usage, u llm.Usage, msgs []llm.Message, reply string, ok bool) {
	if u == (llm.Usage{}) {
		if !ok && reply == "" {
			return
		}
		u = llm.EstimateUsage(msgs, reply)
		spent.Estimated = true
	}
	spent.PromptTokens += u.InputTokens
	spent.CompletionTokens += u.OutputTokens
}

// reply is the bot message answering t; u (nil: none) is what the model's reply cost.
func (c *consumer) reply(t store.Turn, text string, stopped bool, u *chat.Usage) *chat.Message {
	return &chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: text, Timestamp: time.Now().UTC(), ReplyTo: t.Message.ID, Stopped: stopped, Usage: u}
}
