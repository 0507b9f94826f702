package redistest

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The variables that point the tests at a Redis that runs already: when set, SingleURL and
// ClusterURL return them and start nothing.
const (
	EnvSingle  = "CHATBOT_TEST_REDIS_URL"
	EnvCluster = "CHATBOT_TEST_REDIS_CLUSTER_URL"
)

// The servers shared by the tests of this test binary, each started on first use.
var (
	sharedSingle  lazy[*Node]
	sharedCluster lazy[*Cluster]
	sharedTLS     lazy[*Node]

	sharedMu    sync.Mutex
	sharedOwned bool     // Wrap was called: its Run stops what is started
	sharedStops []func() // how to stop what was started, in start order
)

// sharedNodeTimeout is the shared cluster's cluster-node-timeout in ms, Redis's default: no
// test kills its nodes, and a short one (2s, the nodes of NewCluster, for quick failovers)
// lets a primary busy relaying big PUBLISHes over the bus of a loaded machine be voted out,
// failing every other test of the binary with CLUSTERDOWN.
const sharedNodeTimeout = 15000

type lazy[T any] struct {
	once sync.Once
	v    T
	err  error
}

// SingleURL is the redis:// URL of a single node for the tests of this binary:
// CHATBOT_TEST_REDIS_URL if set, else a node started on the first call.
func SingleURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvSingle); u != "" {
		return u
	}
	return shared(t, &sharedSingle, "single node", func() (*Node, error) {
		return StartNode(Options{Name: "single"})
	}, (*Node).Stop).URL()
}

// ClusterURL is the redis:// URL of a 6-node Redis Cluster for the tests of this binary:
// CHATBOT_TEST_REDIS_CLUSTER_URL if set, else a cluster started on the first call.
func ClusterURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvCluster); u != "" {
		return u
	}
	return shared(t, &sharedCluster, "cluster", func() (*Cluster, error) {
		return StartCluster(Options{Args: []string{"--cluster-node-timeout", strconv.Itoa(sharedNodeTimeout)}})
	}, (*Cluster).Stop).URL()
}

// TLSNode is a node that speaks TLS only (URL rediss://..., CAFile) for the tests of this
// binary, started on the first call.
func TLSNode(t testing.TB) *Node {
	t.Helper()
	return shared(t, &sharedTLS, "TLS node", func() (*Node, error) {
		return StartNode(Options{Name: "tls", TLS: true})
	}, (*Node).Stop)
}

// shared starts l's server on the first call and fails t if it did not start.
func shared[T any](t testing.TB, l *lazy[T], what string, start func() (T, error), stop func(T)) T {
	t.Helper()
	sharedMu.Lock()
	owned := sharedOwned
	sharedMu.Unlock()
	if !owned {
		t.Fatalf("redistest: no TestMain stops the shared %s of this package: add\n\tfunc TestMain(m *testing.M) { redistest.Main(m) }", what)
	}
	l.once.Do(func() {
		began := time.Now()
		l.v, l.err = start()
		if l.err != nil {
			return
		}
		sharedMu.Lock()
		sharedStops = append(sharedStops, func() { stop(l.v) })
		sharedMu.Unlock()
		t.Logf("redistest: shared %s started in %s", what, time.Since(began).Round(time.Millisecond))
	})
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.v
}

// M is what a TestMain runs: *testing.M, or a wrapper of it.
type M interface{ Run() int }

// Main runs the package's tests, stops the shared servers they started and exits with the
// tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) { os.Exit(Wrap(m).Run()) }

// Wrap is m with a Run that stops the shared servers after the tests, for a TestMain that
// does more than Main (goleak.VerifyTestMain(redistest.Wrap(m)), a browser to stop...).
func Wrap(m M) M {
	sharedMu.Lock()
	sharedOwned = true
	sharedMu.Unlock()
	return wrapped{m}
}

type wrapped struct{ m M }

func (w wrapped) Run() int {
	defer stopShared()
	return w.m.Run()
}

// stopShared stops every shared server started so far, all at once.
func stopShared() {
	sharedMu.Lock()
	stops := sharedStops
	sharedStops = nil
	sharedMu.Unlock()
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()
}
