package e2e

import (
	"testing"
	"time"
)

// kill -9 a serve while its clients wait for replies (one message acknowledged, one maybe not
// even read): they reconnect to the other serve with ?last_id, resend by client_id what was not
// answered, and get every reply once.
func TestE2EServeKill(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{serves: 2, works: 2, replicas: 2, echoDelay: time.Second})
	ctx := testContext(t, 2*time.Minute)
	cs := d.convos(ctx, 40, "v") // even ones on serve1, odd ones on serve2

	each(t, cs, func(c *convo) error {
		c.send(ctx)
		return c.waitAcked(ctx)
	})
	each(t, cs, func(c *convo) error { c.send(ctx); return nil }) // in flight at the kill
	killed := time.Now()
	d.serve(0).kill()

	each(t, cs, func(c *convo) error { return c.waitAnswered(ctx) })
	recovered := time.Since(killed)
	each(t, cs, func(c *convo) error {
		c.send(ctx)
		c.send(ctx)
		return c.waitAnswered(ctx)
	})
	checkExactlyOnce(ctx, t, d, cs)

	moved := 0
	for i, c := range cs {
		c.mu.Lock()
		dials := c.dials
		c.mu.Unlock()
		switch {
		case i%2 == 0 && dials < 2:
			t.Errorf("%s was on the killed serve and never reconnected", c.label)
		case i%2 == 1 && dials != 1:
			t.Errorf("%s was on the surviving serve and reconnected %d times", c.label, dials-1)
		case i%2 == 0:
			moved++
		}
	}
	st := sum(cs)
	t.Logf("serve killed: %d sessions moved to the other serve, first two replies of all 40 in %s after the kill, %d resends by client_id, %d turns exactly once",
		moved, recovered.Round(time.Millisecond), st.resends, st.turns)
}
