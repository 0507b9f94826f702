package store_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// TestMemory: Memory reads used_memory and maxmemory of a single node; without a maxmemory,
// Max is 0 (the guard has nothing to compare with).
func TestMemory(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := redistest.NewNode(t, redistest.Options{Name: "maxmemory", Args: []string{"--maxmemory", "32mb"}})
	s := storetest.Open(t, storetest.Backend{Name: "single", URL: node.URL()}, store.Options{})
	m, err := s.Memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Node != node.Addr() || m.Max != 32<<20 || m.Used <= 0 || m.Ratio() <= 0 || m.Ratio() >= 0.5 {
		t.Fatalf("Memory = %+v (ratio %v), want %s with maxmemory 32 MiB, a little used", m, m.Ratio(), node.Addr())
	}
	if _, err := node.Do(ctx, "SETRANGE", "filler", strconv.Itoa(24<<20), "x"); err != nil {
		t.Fatal(err)
	}
	if m, err = s.Memory(ctx); err != nil || m.Ratio() < 0.75 || m.Ratio() >= 1 {
		t.Fatalf("Memory after 24 MiB more = %+v (ratio %v), %v", m, m.Ratio(), err)
	}

	none := storetest.Open(t, storetest.Single(t), store.Options{})
	if m, err := none.Memory(ctx); err != nil || m.Max != 0 || m.Used <= 0 || m.Ratio() != 0 {
		t.Fatalf("Memory without maxmemory = %+v, %v; want Max 0", m, err)
	}
}

// TestMemoryFullestNode: on a cluster Memory is the node fullest against its own maxmemory.
// The test sets maxmemory on every node of the test binary's cluster, far above what they
// use, so nothing is refused, and puts it back; it does not run in parallel with the tests
// that write there.
func TestMemoryFullestNode(t *testing.T) {
	b := storetest.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := aclTarget{name: b.Name, url: b.URL}
	nodes := clusterNodes(t, b.URL)
	s := storetest.Open(t, b, store.Options{})
	if m, err := s.Memory(ctx); err != nil || m.Max != 0 {
		t.Fatalf("Memory without maxmemory = %+v, %v; want Max 0", m, err)
	}
	// One node at about a tenth of its maxmemory, the others at about a thousandth.
	// The fullest is one the client talks to (rueidis may leave replicas out).
	var known []string
	for addr := range s.Client().Nodes() {
		known = append(known, addr)
	}
	sort.Strings(known)
	fullest := known[len(known)/2]
	for _, addr := range nodes {
		c := nodeClient(t, a, addr)
		info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		used := infoInt(t, info, "used_memory")
		factor := int64(1000)
		if addr == fullest {
			factor = 10
		}
		if err := c.Do(ctx, c.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", strconv.FormatInt(used*factor, 10)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Do(ctx, c.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", "0").Build())
		})
	}
	m, err := s.Memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Node != fullest || m.Ratio() < 0.05 || m.Ratio() > 0.2 {
		t.Fatalf("Memory = %+v (ratio %v), want %s at about 0.1", m, m.Ratio(), fullest)
	}
}

// infoInt is an integer field of an INFO text.
func infoInt(t *testing.T, info, field string) int64 {
	t.Helper()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("no %s in INFO", field)
	return 0
}
