package e2e

import (
	"testing"
	"time"
)

// Redis as managed and enterprise services sell it: one endpoint, a proxy in front that
// refuses a script over two hash slots (CROSSSLOT), CLUSTER commands and CLIENT SETNAME. serve
// and work find out at start (redis.mode auto), queue messages in two steps as on a cluster,
// go on without naming their connections, and chat works through the proxy: every reply
// once, in order, stored.
func TestE2EBehindEnterpriseProxy(t *testing.T) {
	t.Parallel()
	d := deploy(t, shape{single: true, proxy: true, serves: 1, works: 1, replicas: 2})
	ctx := testContext(t, 2*time.Minute)
	cs := d.convos(ctx, 10, "p")
	each(t, cs, func(c *convo) error {
		for range 3 {
			c.send(ctx)
		}
		return c.waitAnswered(ctx)
	})
	checkExactlyOnce(ctx, t, d, cs)
	for _, p := range []*proc{d.serve(0), d.work(0)} {
		if err := p.waitLog("does not let one script touch two hash slots", time.Second); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
	refused := d.proxy.Refused()
	if refused["crossslot"] != 2 || refused["cluster"] == 0 || refused["setname"] == 0 {
		t.Errorf("the proxy refused %v: want one cross-slot probe per process and nothing else cross-slot, CLUSTER and CLIENT SETNAME", refused)
	}
}
