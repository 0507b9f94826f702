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
