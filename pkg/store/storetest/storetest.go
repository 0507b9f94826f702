// Package storetest gives tests a real Redis: a single node and a 6-node cluster of their
// test binary (internal/redistest starts them on first use, or takes CHATBOT_TEST_REDIS_URL
// and CHATBOT_TEST_REDIS_CLUSTER_URL when set), each test with its own key prefix so tests
// can run in parallel on one Redis. A package that uses it needs
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

// Backend is one Redis the tests run against.
type Backend struct {
	Name string // "single" or "cluster"
	URL  string
}

// Backends lists the single node and the cluster: the suite runs against both.
func Backends(t testing.TB) []Backend {
	t.Helper()
	return []Backend{Single(t), Cluster(t)}
}

// Single is the single node, for a test that needs no cluster (the cluster is then never
// started in its test binary).
func Single(t testing.TB) Backend {
	t.Helper()
	return Backend{"single", redistest.SingleURL(t)}
}

// Cluster is the 6-node Redis Cluster.
func Cluster(t testing.TB) Backend {
	t.Helper()
	return Backend{"cluster", redistest.ClusterURL(t)}
}

// Each runs f as a parallel subtest against every backend.
func Each(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Prefix is a key prefix of the project's shape ("chat:...") unique to this test.
func Prefix(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := unsafe.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return "chat:t:" + name + ":" + hex.EncodeToString(b) + ":"
}

// Open connects a Store to backend b with a prefix of this test's own, applying opt (URL and
// Prefix are filled in), and closes it when the test ends.
func Open(t testing.TB, b Backend, opt store.Options) *store.Store {
	t.Helper()
	opt.URL = b.URL
	if opt.Prefix == "" {
		opt.Prefix = Prefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, opt)
	if err != nil {
		t.Fatalf("open %s redis: %v", b.Name, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Eventually polls cond every few milliseconds until it is true or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	wait := retry.Backoff{Base: time.Millisecond, Max: 50 * time.Millisecond}
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		wait.Wait(ctx)
	}
}
