package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster is a Redis Cluster of 3 primaries and 3 replicas the test started.
type cluster struct {
	t     testing.TB
	nodes []*redisNode
}

// startCluster starts 6 cluster-enabled nodes, joins them with `redis-cli --cluster create
// --cluster-replicas 1`, and waits until every node sees the same healthy cluster.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	start := time.Now()
	c := &cluster{t: t}
	addrs := make([]string, 6)
	for i := range 6 {
		n := startRedis(t, "cluster"+strconv.Itoa(i+1), true,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0",
			"--appendonly", "no")
		c.nodes = append(c.nodes, n)
		addrs[i] = n.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(30 * time.Second)
	t.Logf("redis cluster ready in %s: %s", time.Since(start).Round(time.Millisecond), strings.Join(addrs, " "))
	return c
}

// URL is the redis.url of the cluster, seeded with the current primaries.
func (c *cluster) URL() string {
	ps := c.primaries()
	if len(ps) == 0 {
		c.t.Fatal("cluster has no primary")
	}
	u := "redis://" + ps[0].Addr()
	for i, p := range ps[1:] {
		if i == 0 {
			u += "?"
		} else {
			u += "&"
		}
		u += "addr=" + p.Addr()
	}
	return u
}

// live is the nodes whose process still runs.
func (c *cluster) live() []*redisNode {
	var out []*redisNode
	for _, n := range c.nodes {
		if n.alive() {
			out = append(out, n)
		}
	}
	return out
}

// primaries is the live nodes that say they are a primary holding slots, sorted by first slot.
func (c *cluster) primaries() []*redisNode {
	type p struct {
		n    *redisNode
		slot int
	}
	var ps []p
	for _, n := range c.live() {
		if n.info("replication", "role") != "master" {
			continue
		}
		first, ok := n.firstSlot()
		if ok {
			ps = append(ps, p{n, first})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].slot < ps[j].slot })
	out := make([]*redisNode, len(ps))
	for i := range ps {
		out[i] = ps[i].n
	}
	return out
}

// firstSlot is the lowest slot this node serves, as it sees itself in CLUSTER NODES.
func (n *redisNode) firstSlot() (int, bool) {
	nodes, err := n.do(context.Background(), "CLUSTER", "NODES")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "myself") {
			continue
		}
		lo, _, _ := strings.Cut(f[8], "-")
		s, err := strconv.Atoi(lo)
		return s, err == nil
	}
	return 0, false
}

// primaryOf is the live primary that serves key now.
func (c *cluster) primaryOf(key string) *redisNode {
	c.t.Helper()
	slot := c.keySlot(key)
	for _, n := range c.primaries() {
		nodes, err := n.do(context.Background(), "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "myself") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				l, err1 := strconv.Atoi(lo)
				h, err2 := strconv.Atoi(hi)
				if err1 == nil && err2 == nil && l <= slot && slot <= h {
					return n
				}
			}
		}
	}
	c.t.Fatalf("no live primary serves slot %d (key %s)", slot, key)
	return nil
}

func (c *cluster) keySlot(key string) int {
	c.t.Helper()
	for _, n := range c.live() {
		s, err := n.do(context.Background(), "CLUSTER", "KEYSLOT", key)
		if err == nil {
			slot, err := strconv.Atoi(s)
			if err == nil {
				return slot
			}
		}
	}
	c.t.Fatalf("CLUSTER KEYSLOT %s: no node answered", key)
	return 0
}

// partitionsOverAllPrimaries is the smallest stream.partitions (at least min) whose request
// streams chat:requests:{0..n-1} land on every primary, so every shard takes work.
func (c *cluster) partitionsOverAllPrimaries(min int) int {
	c.t.Helper()
	want := len(c.primaries())
	seen := map[*redisNode]bool{}
	for n := 1; n <= 64; n++ {
		seen[c.primaryOf(requestsKey(n-1))] = true
		if n >= min && len(seen) == want {
			return n
		}
	}
	c.t.Fatalf("64 partitions do not cover %d primaries", want)
	return 0
}

// requestsKey is the request stream of partition p (pkg/store Keys.Requests).
func requestsKey(p int) string { return "chat:requests:{" + strconv.Itoa(p) + "}" }

// healthy reports whether every live node sees cluster_state:ok, the live nodes' roles add up
// to 3 primaries holding all slots, and every live replica's link to its primary is up.
func (c *cluster) healthy() error {
	live := c.live()
	addrs := map[string]bool{}
	for _, n := range live {
		addrs[n.Addr()] = true
	}
	primaries, replicasUp := 0, 0
	for _, n := range live {
		ci, err := n.do(context.Background(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %v", n.Addr(), err)
		}
		if infoField(ci, "cluster_state") != "ok" {
			return fmt.Errorf("%s: cluster_state %s", n.Addr(), infoField(ci, "cluster_state"))
		}
		if err := n.viewOK(addrs); err != nil {
			return fmt.Errorf("%s: %v", n.Addr(), err)
		}
		switch n.info("replication", "role") {
		case "master":
			if _, ok := n.firstSlot(); ok {
				primaries++
			}
		case "slave":
			if n.info("replication", "master_link_status") == "up" {
				replicasUp++
			}
		}
	}
	if primaries != 3 {
		return fmt.Errorf("%d primaries serve slots, want 3", primaries)
	}
	if replicasUp != len(live)-3 {
		return fmt.Errorf("%d of %d replicas have their link up", replicasUp, len(live)-3)
	}
	return nil
}

// viewOK checks this node's CLUSTER NODES: no live node (live holds their host:port) failing
// or still handshaking, every replica attached to a primary. Nodes the test killed may show as
// failed.
func (n *redisNode) viewOK(live map[string]bool) error {
	nodes, err := n.do(context.Background(), "CLUSTER", "NODES")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		flags := "," + f[2] + ","
		if strings.Contains(flags, ",fail,") || strings.Contains(flags, ",fail?,") {
			if live[strings.Split(f[1], "@")[0]] {
				return fmt.Errorf("live node %s flagged %s", f[1], f[2])
			}
			continue // a node the test killed, known to be dead
		}
		if strings.Contains(flags, ",handshake,") || strings.Contains(flags, ",noaddr,") {
			return fmt.Errorf("node %s flagged %s", f[1], f[2])
		}
		if strings.Contains(flags, ",slave,") && f[3] == "-" {
			return fmt.Errorf("replica %s has no primary yet", f[1])
		}
	}
	return nil
}

// waitHealthy waits until healthy or fails the test after timeout.
func (c *cluster) waitHealthy(timeout time.Duration) {
	c.t.Helper()
	var err error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err = c.healthy(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("redis cluster not healthy after %s: %v", timeout, err)
}
