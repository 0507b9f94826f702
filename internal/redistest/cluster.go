package redistest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/retry"
)

// clusterTimeout bounds the wait for a new cluster to be healthy.
const clusterTimeout = 60 * time.Second

// slots is the number of hash slots of a Redis Cluster.
const slots = 16384

// Cluster is a Redis Cluster of 3 primaries and 3 replicas on loopback, made by StartCluster
// or NewCluster. Nodes keep their start order; which is a primary changes with failovers.
type Cluster struct {
	Nodes []*Node
}

// StartCluster starts 6 cluster-mode nodes (opt.Args and opt.Dir apply to each; opt.TLS is
// not supported), gives 3 of them the slots and makes each of the others the replica of one,
// in Go (no redis-cli), and waits until Healthy.
func StartCluster(opt Options) (*Cluster, error) {
	if opt.TLS {
		return nil, errors.New("redistest: a TLS cluster is not supported")
	}
	if opt.Name == "" {
		opt.Name = "cluster"
	}
	opt.cluster = true
	c := &Cluster{Nodes: make([]*Node, 6)}
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range c.Nodes {
		o := opt
		o.Name = opt.Name + strconv.Itoa(i+1)
		wg.Go(func() { c.Nodes[i], errs[i] = StartNode(o) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		err = c.create()
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// NewCluster starts a cluster for t (StartCluster) and stops it when t ends, printing the end
// of each node's log if t failed.
func NewCluster(t testing.TB, opt Options) *Cluster {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	start := time.Now()
	c, err := StartCluster(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Logf("redis %s on %s, log (tail):\n%s", n.name, n.Addr(), n.LogTail(30))
			}
		}
	})
	t.Logf("redis cluster ready in %s: %s", time.Since(start).Round(time.Millisecond), c.URL())
	return c
}

// create does what `redis-cli --cluster create --cluster-replicas 1` does, without its
// one-second sleeps: slots to nodes 1-3, a distinct config epoch each, every node met, nodes
// 4-6 replicas of 1-3; then it waits until Healthy.
func (c *Cluster) create() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		id, err := n.Do(ctx, "CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("redistest: cluster: %s: CLUSTER MYID: %w", n.Addr(), err)
		}
		ids[i] = id
		if _, err := n.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("redistest: cluster: %s: CLUSTER SET-CONFIG-EPOCH: %w", n.Addr(), err)
		}
	}
	for i := range 3 {
		args := []string{"CLUSTER", "ADDSLOTS"}
		for s := i * slots / 3; s < (i+1)*slots/3; s++ {
			args = append(args, strconv.Itoa(s))
		}
		if _, err := c.Nodes[i].Do(ctx, args...); err != nil {
			return fmt.Errorf("redistest: cluster: %s: CLUSTER ADDSLOTS: %w", c.Nodes[i].Addr(), err)
		}
	}
	// Node 1 meets everyone; each replica meets its primary too, so that it need not learn
	// of it by gossip.
	meet := func(from, to *Node) error {
		if _, err := from.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(to.port)); err != nil {
			return fmt.Errorf("redistest: cluster: %s: CLUSTER MEET %s: %w", from.Addr(), to.Addr(), err)
		}
		return nil
	}
	for _, n := range c.Nodes[1:] {
		if err := meet(c.Nodes[0], n); err != nil {
			return err
		}
	}
	for i, n := range c.Nodes[3:] {
		if i > 0 {
			if err := meet(n, c.Nodes[i]); err != nil {
				return err
			}
		}
	}
	// A replica can follow its primary once the handshake is over (a few cluster ticks).
	for i, n := range c.Nodes[3:] {
		primary := ids[i]
		err := poll(ctx, func() error {
			nodes, err := n.Do(ctx, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(nodes, "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && f[0] == primary && !strings.Contains(f[2], "handshake") {
					_, err := n.Do(ctx, "CLUSTER", "REPLICATE", primary)
					return err
				}
			}
			return fmt.Errorf("does not know its primary %s yet", primary)
		})
		if err != nil {
			return fmt.Errorf("redistest: cluster: replica %s: %w", n.Addr(), err)
		}
	}
	if err := poll(ctx, c.Healthy); err != nil {
		return fmt.Errorf("redistest: cluster not healthy after %s: %w", clusterTimeout, err)
	}
	return nil
}

// pollWait is how often the servers are asked again: from 1ms, doubling, up to 50ms.
var pollWait = retry.Backoff{Base: time.Millisecond, Max: 50 * time.Millisecond}

// poll calls f until it returns nil, waiting pollWait in between, and returns f's last error
// when ctx ends first (or at once, an error marked with retry.Stop).
func poll(ctx context.Context, f func() error) error {
	return retry.Do(ctx, pollWait, 0, func(int) error { return f() })
}

// URL is a redis.url of the cluster, seeded with the primaries, in slot order.
func (c *Cluster) URL() string {
	ps := c.Primaries()
	if len(ps) == 0 {
		return "redis://" + c.Nodes[0].Addr()
	}
	u := "redis://" + ps[0].Addr()
	for i, p := range ps[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + p.Addr()
	}
	return u
}

// Live is the nodes whose process still runs.
func (c *Cluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n != nil && n.Alive() {
			out = append(out, n)
		}
	}
	return out
}

// Primaries is the live nodes that say they are a primary holding slots, by first slot.
func (c *Cluster) Primaries() []*Node {
	type p struct {
		n    *Node
		slot int
	}
	var ps []p
	for _, n := range c.Live() {
		if n.Info("replication", "role") != "master" {
			continue
		}
		if ranges, ok := n.ownSlots(); ok && len(ranges) > 0 {
			ps = append(ps, p{n, ranges[0][0]})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].slot < ps[j].slot })
	out := make([]*Node, len(ps))
	for i := range ps {
		out[i] = ps[i].n
	}
	return out
}

// ownSlots is the slot ranges this node serves, as it sees itself in CLUSTER NODES.
func (n *Node) ownSlots() ([][2]int, bool) {
	nodes, err := n.Do(context.Background(), "CLUSTER", "NODES")
	if err != nil {
		return nil, false
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && strings.Contains(f[2], "myself") {
			return slotRanges(f[8:]), true
		}
	}
	return nil, false
}

// slotRanges parses the slot fields of a CLUSTER NODES line ("0-5460", "5461"); slots being
// imported or migrated ("[...]") are left out.
func slotRanges(fields []string) [][2]int {
	var out [][2]int
	for _, r := range fields {
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil {
			out = append(out, [2]int{l, h})
		}
	}
	return out
}

// PrimaryOf is the live primary that serves key now.
func (c *Cluster) PrimaryOf(key string) (*Node, error) {
	slot, err := c.KeySlot(key)
	if err != nil {
		return nil, err
	}
	for _, n := range c.Primaries() {
		ranges, _ := n.ownSlots()
		for _, r := range ranges {
			if r[0] <= slot && slot <= r[1] {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("redistest: no live primary serves slot %d (key %s)", slot, key)
}

// KeySlot is key's hash slot, as a live node computes it.
func (c *Cluster) KeySlot(key string) (int, error) {
	for _, n := range c.Live() {
		if s, err := n.Do(context.Background(), "CLUSTER", "KEYSLOT", key); err == nil {
			if slot, err := strconv.Atoi(s); err == nil {
				return slot, nil
			}
		}
	}
	return 0, fmt.Errorf("redistest: CLUSTER KEYSLOT %s: no node answered", key)
}

// Healthy reports, as an error, what keeps the cluster from being whole: every live node must
// see cluster_state:ok and all the cluster's nodes, no live node failing or still in a
// handshake, the same primaries holding the same slots; 3 primaries must hold all the slots,
// and every live replica's link to its primary must be up. Nodes a test killed may show as
// failed.
func (c *Cluster) Healthy() error {
	live := c.Live()
	alive := map[string]bool{}
	for _, n := range live {
		alive[n.Addr()] = true
	}
	primaries, replicasUp := 0, 0
	var agreed string
	var agreedBy *Node
	for _, n := range live {
		ci, err := n.Do(context.Background(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %v", n.Addr(), err)
		}
		if s := infoField(ci, "cluster_state"); s != "ok" {
			return fmt.Errorf("%s: cluster_state %s", n.Addr(), s)
		}
		if k := infoField(ci, "cluster_known_nodes"); k != strconv.Itoa(len(c.Nodes)) {
			return fmt.Errorf("%s knows %s nodes, want %d", n.Addr(), k, len(c.Nodes))
		}
		view, err := n.slotView(alive)
		if err != nil {
			return fmt.Errorf("%s: %v", n.Addr(), err)
		}
		if agreedBy == nil {
			agreed, agreedBy = view, n
		} else if view != agreed {
			return fmt.Errorf("%s and %s disagree on who holds the slots", agreedBy.Addr(), n.Addr())
		}
		switch n.Info("replication", "role") {
		case "master":
			if ranges, ok := n.ownSlots(); ok && len(ranges) > 0 {
				primaries++
			}
		case "slave":
			if n.Info("replication", "master_link_status") == "up" {
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

// slotView checks this node's CLUSTER NODES (no live node, alive holds their host:port,
// failing or in a handshake; every replica attached to a primary) and returns who holds
// which slots in its eyes, to compare with the other nodes' view.
func (n *Node) slotView(alive map[string]bool) (string, error) {
	nodes, err := n.Do(context.Background(), "CLUSTER", "NODES")
	if err != nil {
		return "", err
	}
	var holders []string
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := "," + f[2] + ","
		if strings.Contains(flags, ",fail,") || strings.Contains(flags, ",fail?,") {
			if alive[addr] {
				return "", fmt.Errorf("live node %s flagged %s", f[1], f[2])
			}
			continue // a node the test killed, known to be dead
		}
		if strings.Contains(flags, ",handshake,") || strings.Contains(flags, ",noaddr,") {
			return "", fmt.Errorf("node %s flagged %s", f[1], f[2])
		}
		if strings.Contains(flags, ",slave,") && f[3] == "-" {
			return "", fmt.Errorf("replica %s has no primary yet", f[1])
		}
		if strings.Contains(flags, ",master,") && len(f) > 8 {
			holders = append(holders, addr+" "+strings.Join(f[8:], " "))
		}
	}
	slices.Sort(holders)
	return strings.Join(holders, "\n"), nil
}

// WaitHealthy waits until Healthy, at most timeout, and returns its last error if it never is.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := poll(ctx, c.Healthy); err != nil {
		return fmt.Errorf("redis cluster not healthy after %s: %w", timeout, err)
	}
	return nil
}

// Stop stops every node.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if n != nil {
			wg.Go(n.Stop)
		}
	}
	wg.Wait()
}
