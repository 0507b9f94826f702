// Package storetest gives tests a real Redis: the single node and the 6-node cluster that
// `make test` starts (CHATBOT_TEST_REDIS_URL, CHATBOT_TEST_REDIS_CLUSTER_URL), each test with
// its own key prefix so tests can run in parallel on one Redis.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
	"time"

	"chatbot/pkg/retry"
	"chatbot/pkg/store"
)

// Env names the variables `make test` sets.
const (
	EnvSingle  = "CHATBOT_TEST_REDIS_URL"
	EnvCluster = "CHATBOT_TEST_REDIS_CLUSTER_URL"
)

// Backend is one Redis the tests run against.
type Backend struct {
	Name string // "single" or "cluster"
	URL  string
}

// Backends lists the single node and the cluster. A missing variable fails the test: the
// suite is meant to run against both (`make test` starts them).
func Backends(t testing.TB) []Backend {
	t.Helper()
	var out []Backend
	for _, b := range []Backend{{"single", os.Getenv(EnvSingle)}, {"cluster", os.Getenv(EnvCluster)}} {
		if b.URL == "" {
			t.Fatalf("%s is not set: run the tests with `make test`, which starts Redis", map[string]string{"single": EnvSingle, "cluster": EnvCluster}[b.Name])
		}
		out = append(out, b)
	}
	return out
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
