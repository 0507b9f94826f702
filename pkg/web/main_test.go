package web_test

import (
	"testing"

	"chatbot/internal/redistest"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests: every server's goroutines
// (subscriber, hubs, socket readers, writers and closers) must end by the time Serve returns.
// The Redis servers the tests started (internal/redistest) are stopped before the check.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(redistest.Wrap(m),
		// A cluster client closes the connections a topology refresh replaced 5s later, on
		// a goroutine of its own that its Close does not wait for.
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		// A refresh after a connection error waits out its delay (under a second) on a
		// goroutine of rueidis's own, which ends by itself (seen once on a fresh clone).
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"))
}
