package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// kill -9 a Redis Cluster primary while sessions chat: its replica takes over (the test waits
// for the cluster to be whole again), serve and work find the new primary by themselves, and
// clients go on — resending, by client_id, what stays unanswered. Replication is asynchronous,
// so the last writes acknowledged by the dead primary can be lost: the test counts what was
// lost and reports it, and checks that every message ends up answered with the right text, that
// a round of messages after the failover is answered exactly once and in order, and that no
// chatbot process had to be restarted.
func TestE2EPrimaryFailover(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{serves: 2, works: 2, replicas: 2, echoDelay: 300 * time.Millisecond,
		env: env{"CHATBOT_REDIS_COMMAND_TIMEOUT": "2s"}})
	d.resendAfter = 4 * time.Second // a client resends what stays unanswered this long
	ctx := testContext(t, 3*time.Minute)
	cs := d.convos(ctx, 40, "f")

	// Load: each session sends a message as soon as the last is answered, until stop.
	stop := make(chan struct{})
	load := make(chan error, len(cs))
	for _, c := range cs {
		go func() {
			for {
				select {
				case <-stop:
					load <- nil
					return
				default:
				}
				c.send(ctx)
				if err := c.waitAnswered(ctx); err != nil {
					load <- err
					return
				}
			}
		}()
	}
	each(t, cs, func(c *convo) error {
		return c.waitFor(ctx, "two replies", func() bool { return len(c.order) >= 2 })
	})

	victim := d.cluster.Primaries()[0]
	killed := time.Now()
	victim.Kill()
	d.cluster.waitHealthy(30 * time.Second)
	whole := time.Now()

	// Every session gets replies to two messages sent after the failover, then the load stops.
	each(t, cs, func(c *convo) error {
		return c.waitFor(ctx, "two replies after the failover", func() bool {
			n := 0
			for _, tu := range c.turns {
				if tu.sentAt.After(whole) && len(tu.replies) > 0 {
					n++
				}
			}
			return n >= 2
		})
	})
	close(stop)
	for range cs {
		if err := <-load; err != nil {
			t.Fatal(err)
		}
	}
	cost, bad := tally(cs, killed)
	if len(bad) > 0 {
		t.Fatalf("%d problems after the failover:\n%s", len(bad), strings.Join(first(bad, 20), "\n"))
	}

	// After the failover: a round answered exactly once, in order, in every session.
	each(t, cs, func(c *convo) error {
		tu := c.send(ctx)
		if err := c.waitAnswered(ctx); err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(tu.replies) != 1 || tu.replies[0] != "echo: "+tu.text || len(tu.ids) != 1 || c.order[len(c.order)-1] != tu.n || len(c.errs) > 0 {
			return fmt.Errorf("%s: message after the failover: ids %v, replies %q, order %v, errors %v", c.label, tu.ids, tu.replies, c.order, c.errs)
		}
		return nil
	})
	histories := 0
	for _, c := range cs {
		if len(c.checkHistory(ctx, d.bases()[0])) > 0 {
			histories++
		}
	}
	if dead := d.deadLetters(ctx); dead != "0" {
		t.Errorf("chat:dead holds %s requests after the failover: a worker gave up on a request instead of retrying", dead)
	}
	for _, p := range append(append([]*proc{}, d.serves...), d.works...) {
		if !p.running() {
			t.Errorf("%s exited during the failover: %v", p.name, p.exitErr())
		}
	}
	t.Logf("primary %s killed: cluster whole again in %s, every session answered again within %s of the kill; "+
		"over %d messages: %d acknowledged messages lost (queued again by their resend), %d replies delivered twice, "+
		"%d sends refused with 'unavailable', %d resends, %d replies restarted, %d sessions whose stored history differs from what was sent",
		victim.Addr(), whole.Sub(killed).Round(time.Millisecond), cost.recovered.Round(time.Millisecond), cost.turns,
		cost.lostAcked, cost.dupReplies, cost.unavailable, cost.resends, cost.restarts, histories)
}

// failoverCost is what a failover cost the clients.
type failoverCost struct {
	turns       int
	lostAcked   int           // messages acknowledged, then gone: a resend queued them under a new id
	dupReplies  int           // replies delivered again (the first was lost with the primary)
	unavailable int           // sends refused with an 'unavailable' error frame
	resends     int           // messages sent again by client_id
	restarts    int           // replies started over (first delta "restart": true)
	recovered   time.Duration // from the kill to the last session's first reply to a message sent after it
}

// tally counts the cost of a failover at killed, and lists what may not happen even then: a
// message never answered, a wrong reply, an error frame other than 'unavailable'. It clears
// the convos' error frames.
func tally(cs []*convo, killed time.Time) (failoverCost, []string) {
	var fc failoverCost
	var bad []string
	for _, c := range cs {
		c.mu.Lock()
		fc.turns += len(c.turns)
		fc.resends += c.resends
		fc.restarts += c.restarts
		recovered := false
		for _, tu := range c.turns {
			if len(tu.replies) == 0 {
				bad = append(bad, fmt.Sprintf("%s: message %d never answered", c.label, tu.n))
			}
			for _, r := range tu.replies {
				if r != "echo: "+tu.text {
					bad = append(bad, fmt.Sprintf("%s: message %d %q got reply %q", c.label, tu.n, tu.text, r))
				}
			}
			fc.lostAcked += max(len(tu.ids)-1, 0)
			fc.dupReplies += max(len(tu.replies)-1, 0)
			if !recovered && tu.sentAt.After(killed) && len(tu.replies) > 0 {
				fc.recovered = max(fc.recovered, tu.replyAt.Sub(killed))
				recovered = true
			}
		}
		for _, ev := range c.errs {
			if ev.Code == "unavailable" {
				fc.unavailable++
			} else {
				bad = append(bad, fmt.Sprintf("%s: error frame %+v", c.label, ev))
			}
		}
		c.errs = nil
		c.mu.Unlock()
	}
	return fc, bad
}
