package e2e

import (
	"context"
	"fmt"
	"strings"
)

// waitFor waits until cond (called with c.mu held) holds or ctx ends.
func (c *convo) waitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		c.mu.Lock()
		ok, fatal, ch := cond(), c.fatal, c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		if fatal != nil {
			return fmt.Errorf("%s: %s: %w", c.label, what, fatal)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w (%s)", c.label, what, ctx.Err(), c.summary())
		}
	}
}

// waitConnected waits for an open socket.
func (c *convo) waitConnected(ctx context.Context) error {
	return c.waitFor(ctx, "connect", func() bool { return c.conn != nil })
}

// waitAnswered waits until every message sent so far has a reply.
func (c *convo) waitAnswered(ctx context.Context) error {
	return c.waitFor(ctx, "every reply", func() bool {
		for _, t := range c.turns {
			if len(t.replies) == 0 {
				return false
			}
		}
		return true
	})
}

// waitAcked waits until every message sent so far has its ack.
func (c *convo) waitAcked(ctx context.Context) error {
	return c.waitFor(ctx, "every ack", func() bool {
		for _, t := range c.turns {
			if len(t.ids) == 0 {
				return false
			}
		}
		return true
	})
}

// waitDelta waits until at least one delta has arrived since the convo started.
func (c *convo) waitDeltas(ctx context.Context, n int) error {
	return c.waitFor(ctx, "deltas", func() bool { return c.deltas >= n })
}

// summary describes the convo's state for a failure message.
func (c *convo) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	answered := 0
	for _, t := range c.turns {
		if len(t.replies) > 0 {
			answered++
		}
	}
	return fmt.Sprintf("%d/%d answered, %d dials, %d resends, last_id %s, errors %v", answered, len(c.turns), c.dials, c.resends, c.lastID, c.errs)
}

// exactlyOnce lists every way the convo broke the guarantee: each message answered once, with
// "echo: <message>", replies in the order of the messages, no error frame, no duplicate frame.
func (c *convo) exactlyOnce() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var bad []string
	for _, t := range c.turns {
		switch {
		case len(t.replies) != 1:
			bad = append(bad, fmt.Sprintf("message %d got %d replies %q", t.n, len(t.replies), t.replies))
		case t.replies[0] != "echo: "+t.text:
			bad = append(bad, fmt.Sprintf("message %d %q got reply %q", t.n, t.text, t.replies[0]))
		}
		if len(t.ids) != 1 {
			bad = append(bad, fmt.Sprintf("message %d acked as %d messages", t.n, len(t.ids)))
		}
	}
	for i, n := range c.order {
		if n != i+1 {
			bad = append(bad, fmt.Sprintf("replies came in the order %v", c.order))
			break
		}
	}
	if len(c.errs) > 0 {
		bad = append(bad, fmt.Sprintf("error frames %+v", c.errs))
	}
	if c.unknown > 0 || c.backward > 0 {
		bad = append(bad, fmt.Sprintf("%d replies to unknown messages, %d frames at or before an offset already received", c.unknown, c.backward))
	}
	if c.fatal != nil {
		bad = append(bad, c.fatal.Error())
	}
	for i := range bad {
		bad[i] = c.label + ": " + bad[i]
	}
	return bad
}

// checkHistory compares the stored conversation with what was sent: human 1, bot 1, ...
func (c *convo) checkHistory(ctx context.Context, base string) []string {
	msgs, err := history(ctx, base, c.token)
	if err != nil {
		return []string{c.label + ": " + err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var want []string
	for _, t := range c.turns {
		want = append(want, "human:"+t.text, "bot:echo: "+t.text)
	}
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i] = m.Role + ":" + m.Msg
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		return []string{fmt.Sprintf("%s: history is\n  %s\nwant\n  %s", c.label, strings.Join(got, "\n  "), strings.Join(want, "\n  "))}
	}
	return nil
}

// stats sums counters over convos.
type stats struct {
	turns, deltas, restarts, dials, resends, reacked int
}

func sum(cs []*convo) stats {
	var s stats
	for _, c := range cs {
		c.mu.Lock()
		s.turns += len(c.turns)
		s.deltas += c.deltas
		s.restarts += c.restarts
		s.dials += c.dials
		s.resends += c.resends
		s.reacked += c.reacked
		c.mu.Unlock()
	}
	return s
}
