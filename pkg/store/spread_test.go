package store_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// The capacity model of docs/OPERATIONS.md assumes sessions spread evenly over a cluster's
// primaries (a session's keys share the hash tag of its random token): the hashes of 10,000
// sessions created on the 6-node cluster land within ±10% of an even share on each primary.
func TestSessionsSpreadEvenlyOverPrimaries(t *testing.T) {
	t.Parallel()
	s, ctx := setup(t, storetest.Cluster(t), store.Options{})
	const n = 10000
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= n {
				if _, err := s.CreateSession(ctx, "s"); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d sessions not created", f)
	}
	// Count this test's session hashes (PREFIX{token}: no suffix) on each primary.
	match := s.Keys().Prefix() + "{*}"
	perPrimary := map[string]int{}
	for addr, node := range s.Client().Nodes() {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatalf("ROLE on %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		cursor := uint64(0)
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(match).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("SCAN on %s: %v", addr, err)
			}
			for _, k := range e.Elements {
				if strings.HasSuffix(k, "}") {
					perPrimary[addr]++
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	if len(perPrimary) != 3 {
		t.Fatalf("sessions on %d primaries (%v), want 3", len(perPrimary), perPrimary)
	}
	total := 0
	for _, c := range perPrimary {
		total += c
	}
	if total != n {
		t.Fatalf("%d session hashes found on the primaries, want %d", total, n)
	}
	even := float64(n) / 3
	for addr, c := range perPrimary {
		if d := float64(c)/even - 1; d < -0.1 || d > 0.1 {
			t.Errorf("primary %s holds %d sessions, %+.1f%% off an even share of %.0f", addr, c, 100*d, even)
		}
	}
	t.Logf("sessions per primary: %v", perPrimary)
}
