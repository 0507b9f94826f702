package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// kill -9 a single-node Redis with AOF on (appendfsync everysec) and start it again on the same
// port and data: /readyz goes 503 while it is down and 200 once it is back, serve and work
// reconnect by themselves, a message sent meanwhile is refused with an error frame (and goes
// through when resent), no conversation loses anything, and chat works again.
func TestE2ERedisRestart(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{single: true, serves: 1, works: 1, replicas: 2, echoDelay: 200 * time.Millisecond})
	ctx := testContext(t, 2*time.Minute)
	srv := d.serve(0)
	cs := d.convos(ctx, 10, "r")
	each(t, cs, func(c *convo) error {
		c.send(ctx)
		c.send(ctx)
		return c.waitAnswered(ctx)
	})

	down := time.Now()
	d.single.Kill()
	for _, p := range []*proc{srv, d.work(0)} {
		if err := p.waitReadyz(http.StatusServiceUnavailable, 15*time.Second); err != nil {
			t.Fatalf("Redis down: %s: %v", p.name, err)
		}
	}
	noticed := time.Since(down)
	// A message sent now is refused with an error frame naming it; the user resends it later.
	sentDown := time.Now()
	lost := cs[0].send(ctx)
	if err := cs[0].waitFor(ctx, "an error frame", func() bool { return len(cs[0].errs) > 0 }); err != nil {
		t.Fatal(err)
	}
	refusedIn := time.Since(sentDown)
	if errs := cs[0].takeErrors(); len(errs) != 1 || errs[0].Code != "unavailable" || errs[0].ClientID != lost.clientID {
		t.Errorf("message sent with Redis down: got error frames %+v, want one 'unavailable' about client_id %s", errs, lost.clientID)
	}
	if code := srv.readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz flapped back to %d with Redis down", code)
	}

	restart(t, d.single)
	back := time.Now()
	for _, p := range []*proc{srv, d.work(0)} {
		if err := p.waitReady(30 * time.Second); err != nil {
			t.Fatalf("Redis back: %s: %v", p.name, err)
		}
	}
	ready := time.Since(back)

	if err := cs[0].resendUnanswered(ctx); err != nil {
		t.Fatal(err)
	}
	each(t, cs, func(c *convo) error {
		c.send(ctx)
		c.send(ctx)
		return c.waitAnswered(ctx)
	})
	chatting := time.Since(back)
	checkExactlyOnce(ctx, t, d, cs)
	for _, p := range []*proc{srv, d.work(0)} {
		if !p.running() {
			t.Errorf("%s exited while Redis was down: %v", p.name, p.exitErr())
		}
	}
	st := sum(cs)
	t.Logf("Redis killed and restarted: /readyz 503 after %s, a message sent meanwhile refused in %s, 200 %s after the restart, every session answered again %s after it; %d reconnects, %d turns exactly once",
		noticed.Round(time.Millisecond), refusedIn.Round(time.Millisecond), ready.Round(time.Millisecond), chatting.Round(time.Millisecond), st.dials-len(cs), st.turns)
}

// The same restart with a Redis that keeps nothing (no AOF, no snapshots): it comes back empty.
// Every session is gone — its socket is closed with 1008 at the next message, as for an expired
// session, and /refresh_token answers 400 — but the processes need no restart: new sessions
// chat at once (the workers create their consumer groups again).
func TestE2ERedisRestartNoPersistence(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{single: true, noAOF: true, serves: 1, works: 1, replicas: 2})
	ctx := testContext(t, time.Minute)
	srv := d.serve(0)
	old := d.convos(ctx, 5, "old")
	each(t, old, func(c *convo) error { c.send(ctx); return c.waitAnswered(ctx) })

	d.single.Kill()
	if err := srv.waitReadyz(http.StatusServiceUnavailable, 15*time.Second); err != nil {
		t.Fatalf("Redis down: %v", err)
	}
	restart(t, d.single)
	if err := srv.waitReady(30 * time.Second); err != nil {
		t.Fatalf("Redis back: %v", err)
	}

	each(t, old, func(c *convo) error {
		if _, err := history(ctx, srv.URL(), c.token); err == nil || !strings.Contains(err.Error(), "400") {
			return fmt.Errorf("%s: /refresh_token after the data loss: %v, want 400", c.label, err)
		}
		c.send(ctx)
		// waitFor gives up when the convo does: that is the close awaited here.
		c.waitFor(ctx, "the socket closed", func() bool { return false })
		c.mu.Lock()
		defer c.mu.Unlock()
		if websocket.CloseStatus(c.fatal) != websocket.StatusPolicyViolation {
			return fmt.Errorf("%s: %v, want the socket closed with 1008", c.label, c.fatal)
		}
		return nil
	})
	fresh := d.convos(ctx, 5, "new")
	each(t, fresh, func(c *convo) error {
		c.send(ctx)
		c.send(ctx)
		return c.waitAnswered(ctx)
	})
	checkExactlyOnce(ctx, t, d, fresh)
}
