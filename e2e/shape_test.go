package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// testContext is a context for the test's clients, ended when the test ends (before its
// processes are killed) or after timeout.
func testContext(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// The production shape on one machine: a 6-node Redis Cluster, two serve, three work with two
// consumers each, request streams on every primary. 100 sessions over both serves send 5
// messages each, all at once: every reply is right, in order, once, and stored. Then a
// regenerate across the two serves (checkRegenerate).
func TestE2EClusterShape(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{serves: 2, works: 3, replicas: 2})
	ctx := testContext(t, 2*time.Minute)

	// Every primary holds at least one request stream.
	parts, _ := strconv.Atoi(d.env["CHATBOT_STREAM_PARTITIONS"])
	shards := map[string]bool{}
	for p := range parts {
		shards[d.cluster.primaryOf(requestsKey(p)).Addr()] = true
	}
	if len(shards) != 3 {
		t.Fatalf("%d partitions land on %d primaries, want 3", parts, len(shards))
	}

	start := time.Now()
	cs := d.convos(ctx, 100, "s")
	each(t, cs, func(c *convo) error {
		for range 5 {
			c.send(ctx)
		}
		return c.waitAnswered(ctx)
	})
	elapsed := time.Since(start)
	checkExactlyOnce(ctx, t, d, cs)

	st := sum(cs)
	if st.dials != len(cs) {
		t.Errorf("%d sockets opened for %d sessions: some reconnected with nothing broken", st.dials, len(cs))
	}
	// Work really went through every shard's streams.
	for p := range parts {
		n := d.cluster.primaryOf(requestsKey(p))
		l, err := n.Do(ctx, "XLEN", requestsKey(p))
		if err != nil || l == "0" {
			t.Errorf("partition %d on %s: XLEN %s %v: took no work", p, n.Addr(), l, err)
		}
	}
	t.Logf("%d sessions x 5 messages = %d replies, exactly once and in order, in %s (%d deltas)",
		len(cs), st.turns, elapsed.Round(time.Millisecond), st.deltas)
	checkRegenerate(ctx, t, d)
}
