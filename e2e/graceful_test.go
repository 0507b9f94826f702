package e2e

import (
	"sync"
	"testing"
	"time"
)

// SIGTERM a serve and a work while sessions chat: the serve closes its sockets with 1001 and
// exits 0 (clients resume on the other serve), the work finishes the replies it began, hands
// back the rest and exits 0. Nothing is lost or doubled, and no reply had to be restarted.
func TestE2EGracefulStop(t *testing.T) {
	t.Parallel()
	const turns = 6
	d := deploy(t, shape{serves: 2, works: 2, replicas: 2, echoDelay: time.Second, env: env{
		"CHATBOT_SERVER_SHUTDOWN_TIMEOUT": "10s",
		"CHATBOT_WORKER_SHUTDOWN_TIMEOUT": "20s",
		// No takeover by idle time here (nothing is killed): on a starved machine a 2s
		// claim_idle lets a live worker's requests be taken over, which restarts replies and
		// would hide whether the stopped worker finished its own. A reply it abandoned is
		// handed back and taken at once, so it still shows as a restart.
		"CHATBOT_WORKER_CLAIM_IDLE": "15s",
	}})
	ctx := testContext(t, 2*time.Minute)
	cs := d.convos(ctx, 40, "g")

	// Load: each session sends a message as soon as the last is answered.
	load := make(chan error, len(cs))
	for _, c := range cs {
		go func() {
			for range turns {
				c.send(ctx)
				if err := c.waitAnswered(ctx); err != nil {
					load <- err
					return
				}
			}
			load <- nil
		}()
	}
	each(t, cs, func(c *convo) error {
		return c.waitFor(ctx, "a first reply", func() bool { return len(c.order) > 0 })
	})

	var wg sync.WaitGroup
	var serveCode, workCode int
	var serveTook, workTook time.Duration
	wg.Go(func() {
		start := time.Now()
		serveCode = d.serve(0).terminate(30 * time.Second)
		serveTook = time.Since(start)
	})
	wg.Go(func() {
		start := time.Now()
		workCode = d.work(0).terminate(40 * time.Second)
		workTook = time.Since(start)
	})
	wg.Wait()
	if serveCode != 0 || workCode != 0 {
		t.Errorf("exit codes after SIGTERM: serve %d, work %d; want 0 and 0", serveCode, workCode)
	}
	for range cs {
		if err := <-load; err != nil {
			t.Fatal(err)
		}
	}
	checkExactlyOnce(ctx, t, d, cs)
	st := sum(cs)
	if st.restarts > 0 {
		t.Errorf("%d replies were restarted: the stopped worker did not finish what it began", st.restarts)
	}
	t.Logf("SIGTERM under load: serve exited 0 in %s, work exited 0 in %s; %d turns exactly once, %d reconnects, %d resends",
		serveTook.Round(time.Millisecond), workTook.Round(time.Millisecond), st.turns, st.dials-len(cs), st.resends)
}
