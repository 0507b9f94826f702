package e2e

import (
	"testing"
	"time"
)

// kill -9 a work process while every reply is being generated (slow echo model): the requests
// it held sit idle in the group until worker.claim_idle, the other work takes them over, starts
// those replies again (first delta "restart": true) and every reply arrives exactly once.
// The time from the kill to the last reply is reported; it must stay within claim_idle + the
// model's time + a margin.
func TestE2EWorkerKill(t *testing.T) {
	t.Parallel()
	const (
		echoDelay = 3 * time.Second
		claimIdle = 2 * time.Second // deploy's worker.claim_idle
		margin    = 6 * time.Second // reclaim tick (claim_idle/4), scheduling on a busy machine
	)
	d := deploy(t, shape{serves: 2, works: 2, replicas: 2, echoDelay: echoDelay})
	ctx := testContext(t, 2*time.Minute)
	cs := d.convos(ctx, 20, "k")

	// Every session's reply is being generated...
	each(t, cs, func(c *convo) error {
		c.send(ctx)
		return c.waitDeltas(ctx, 1)
	})
	// ... when one of the two workers dies.
	killed := time.Now()
	d.work(0).kill()
	each(t, cs, func(c *convo) error { return c.waitAnswered(ctx) })

	var interrupted int
	var slowest, sum time.Duration
	for _, c := range cs {
		c.mu.Lock()
		if c.restarts > 0 {
			interrupted++
			took := c.turns[0].replyAt.Sub(killed)
			sum += took
			slowest = max(slowest, took)
		}
		c.mu.Unlock()
	}
	if interrupted == 0 {
		t.Fatal("no reply was restarted: the killed worker held none (test did not test anything)")
	}
	if bound := claimIdle + echoDelay + margin; slowest > bound {
		t.Errorf("interrupted replies arrived up to %s after the kill, want within claim_idle %s + model %s + margin %s",
			slowest.Round(time.Millisecond), claimIdle, echoDelay, margin)
	}

	if n := d.work(1).metric("chatbot_worker_requests_reclaimed_total"); n < float64(interrupted) {
		t.Errorf("the surviving worker reports %v requests taken over, want at least the %d restarted replies", n, interrupted)
	}

	// The survivor goes on alone.
	each(t, cs, func(c *convo) error {
		c.send(ctx)
		return c.waitAnswered(ctx)
	})
	checkExactlyOnce(ctx, t, d, cs)
	t.Logf("worker killed mid-reply: %d of %d replies restarted elsewhere, recovered %s after the kill on average, %s at worst (claim_idle %s, model %s)",
		interrupted, len(cs), (sum / time.Duration(interrupted)).Round(time.Millisecond), slowest.Round(time.Millisecond), claimIdle, echoDelay)
}
