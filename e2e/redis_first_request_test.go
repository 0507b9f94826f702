package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// After a Redis restart, the pooled connections of serve died with the old server. Once
// /readyz is 200 again, no request may fail because it went out on one of them: ten times in a
// row, Redis is killed and started again, and the very first requests made once /readyz is 200
// succeed — POST /token, GET /refresh_token, a message (with its client_id) on a socket that
// stayed open — and the message is answered.
func TestE2ERedisRestartFirstRequest(t *testing.T) {
	t.Parallel()
	// appendfsync always: a kill -9 loses nothing acknowledged, so that exactly once holds
	// across ten kills on a loaded machine (with everysec a write may wait for a slow fsync).
	d := deploy(t, shape{single: true, serves: 1, works: 1, replicas: 1, redisArgs: []string{"--appendfsync", "always"}})
	ctx := testContext(t, 3*time.Minute)
	srv := d.serve(0)
	cs := d.convos(ctx, 1, "first")
	c := cs[0]
	c.send(ctx)
	if err := c.waitAnswered(ctx); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for round := 1; round <= 10; round++ {
		t.Logf("round %d: kill at %s", round, time.Now().Format("15:04:05.000000"))
		d.single.Kill()
		if err := srv.waitReadyz(http.StatusServiceUnavailable, 15*time.Second); err != nil {
			t.Fatalf("round %d, Redis down: %v", round, err)
		}
		restart(t, d.single)
		if err := srv.waitReady(30 * time.Second); err != nil {
			t.Fatalf("round %d, Redis back: %v", round, err)
		}
		t.Logf("round %d: /readyz 200 at %s", round, time.Now().Format("15:04:05.000000"))
		// The very first requests once /readyz is 200.
		if _, err := createSession(ctx, srv.URL(), fmt.Sprintf("round%d", round)); err != nil {
			failed = append(failed, fmt.Sprintf("round %d: %v", round, err))
		}
		if _, err := history(ctx, srv.URL(), c.token); err != nil {
			failed = append(failed, fmt.Sprintf("round %d: %v", round, err))
		}
		m := c.send(ctx)
		err := c.waitFor(ctx, "the ack or an error frame", func() bool { return len(m.ids) > 0 || len(c.errs) > 0 })
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if errs := c.takeErrors(); len(errs) > 0 {
			for _, e := range errs {
				failed = append(failed, fmt.Sprintf("round %d: a message got error frame %s %q", round, e.Code, e.Msg))
			}
			if err := c.resendUnanswered(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.waitAnswered(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d requests failed right after /readyz was 200 again:\n%s", len(failed), fmt.Sprint(failed))
	}
	checkExactlyOnce(ctx, t, d, cs)
}
