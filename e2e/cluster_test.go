package e2e

import (
	"strconv"
	"testing"
	"time"

	"chatbot/internal/redistest"
)

// cluster is a Redis Cluster of 3 primaries and 3 replicas the test started
// (internal/redistest), with helpers that fail the test instead of returning errors.
type cluster struct {
	*redistest.Cluster
	t testing.TB
}

// startCluster starts the cluster for t and waits until every node sees the same healthy
// cluster; t's cleanup stops it.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	return &cluster{Cluster: redistest.NewCluster(t, redistest.Options{}), t: t}
}

// primaryOf is the live primary that serves key now.
func (c *cluster) primaryOf(key string) *redistest.Node {
	c.t.Helper()
	n, err := c.PrimaryOf(key)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// partitionsOverAllPrimaries is the smallest stream.partitions (at least min) whose request
// streams chat:requests:{0..n-1} land on every primary, so every shard takes work.
func (c *cluster) partitionsOverAllPrimaries(min int) int {
	c.t.Helper()
	want := len(c.Primaries())
	seen := map[*redistest.Node]bool{}
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

// waitHealthy waits until the cluster is whole again or fails the test after timeout.
func (c *cluster) waitHealthy(timeout time.Duration) {
	c.t.Helper()
	if err := c.WaitHealthy(timeout); err != nil {
		c.t.Fatal(err)
	}
}
