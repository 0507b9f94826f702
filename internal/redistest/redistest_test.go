package redistest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"chatbot/internal/redistest"
)

// holdServersEnv, set to a directory, makes the test binary the child of
// TestNoOrphanAfterSIGKILL, with its servers' data in that directory.
const holdServersEnv = "REDISTEST_HOLD_SERVERS"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdServersEnv); dir != "" {
		holdServers(dir)
	}
	redistest.Main(m)
}

// holdServers is the child of TestNoOrphanAfterSIGKILL (TestMain runs it instead of the
// tests): it starts a plain node and a TLS node in dir, prints their PIDs and waits to be
// killed.
func holdServers(dir string) {
	for _, opt := range []redistest.Options{{Name: "plain", Dir: dir}, {Name: "tls", TLS: true, Dir: dir}} {
		n, err := redistest.StartNode(opt)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("pid %d\n", n.PID())
	}
	fmt.Println("ready")
	select {}
}

// The shared servers answer as what they are: a plain node, a healthy cluster whose URL
// seeds its three primaries, a TLS node that a client trusting its CA reaches.
func TestShared(t *testing.T) {
	t.Parallel()
	if u := redistest.SingleURL(t); !strings.HasPrefix(u, "redis://127.0.0.1:") {
		t.Errorf("single: %s", u)
	}
	if u := redistest.ClusterURL(t); strings.Count(u, "addr=") != 2 {
		t.Errorf("cluster URL %s: want 3 primaries", u)
	}
	tlsNode := redistest.TLSNode(t)
	if !strings.HasPrefix(tlsNode.URL(), "rediss://") || tlsNode.CAFile() == "" {
		t.Errorf("TLS node: %s, CA %q", tlsNode.URL(), tlsNode.CAFile())
	}
	if pong, err := tlsNode.Do(context.Background(), "PING"); err != nil || pong != "PONG" {
		t.Errorf("PING over TLS: %q %v", pong, err)
	}
	if again := redistest.TLSNode(t); again != tlsNode {
		t.Error("a second call started another TLS node")
	}
}

// CHATBOT_TEST_REDIS_URL and CHATBOT_TEST_REDIS_CLUSTER_URL win over the servers of the binary.
func TestEnvWins(t *testing.T) {
	t.Setenv(redistest.EnvSingle, "redis://127.0.0.1:1/0")
	t.Setenv(redistest.EnvCluster, "redis://127.0.0.1:2")
	if u := redistest.SingleURL(t); u != "redis://127.0.0.1:1/0" {
		t.Errorf("single: %s", u)
	}
	if u := redistest.ClusterURL(t); u != "redis://127.0.0.1:2" {
		t.Errorf("cluster: %s", u)
	}
}

// Without redis-server on PATH, starting a node fails with how to install it.
func TestNoRedisServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := redistest.StartNode(redistest.Options{})
	if !errors.Is(err, redistest.ErrNoRedis) || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Fatalf("got %v, want ErrNoRedis", err)
	}
}

// A node killed with SIGKILL comes back on the same port, with a new PID and the data of its
// AOF.
func TestNodeKillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := redistest.NewNode(t, redistest.Options{Name: "aof", Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	if _, err := n.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	pid, port := n.PID(), n.Port()
	n.Kill()
	if n.Alive() {
		t.Fatal("alive after Kill")
	}
	if _, err := n.Do(ctx, "PING"); err == nil {
		t.Fatal("a killed node answered")
	}
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	if n.PID() == pid || n.Port() != port {
		t.Errorf("after the restart: pid %d (was %d), port %d (was %d)", n.PID(), pid, n.Port(), port)
	}
	if v, err := n.Do(ctx, "GET", "k"); err != nil || v != "v" {
		t.Errorf("GET k after the restart: %q %v", v, err)
	}
	if err := n.Restart(); err == nil {
		t.Error("restart of a running node succeeded")
	}
}

// A Redis error reply is an error; a nil reply is "", an array its elements by lines.
func TestDoReplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := redistest.NewNode(t, redistest.Options{})
	if _, err := n.Do(ctx, "NOSUCHCOMMAND"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	if v, err := n.Do(ctx, "GET", "missing"); err != nil || v != "" {
		t.Errorf("GET missing: %q %v", v, err)
	}
	if _, err := n.Do(ctx, "RPUSH", "l", "a", "b"); err != nil {
		t.Fatal(err)
	}
	if v, err := n.Do(ctx, "LRANGE", "l", "0", "-1"); err != nil || v != "a\nb" {
		t.Errorf("LRANGE: %q %v", v, err)
	}
	if v, err := n.Do(ctx, "INCR", "i"); err != nil || v != "1" {
		t.Errorf("INCR: %q %v", v, err)
	}
}

// TestKeySlotOf: the proxy's hash slots are Redis Cluster's (CLUSTER KEYSLOT).
func TestKeySlotOf(t *testing.T) {
	for key, want := range map[string]int{
		"chat:requests:{0}": 13907, "chat:requests:{1}": 9842, "chat:requests:{2}": 5649, "chat:requests:{3}": 1584,
		"foo": 12182, "{user1000}.following": 3443, "foo{}{bar}": 8363, "foo{{bar}}zap": 4015,
	} {
		if got := redistest.KeySlotOf(key); got != want {
			t.Errorf("KeySlotOf(%q) = %d, want %d", key, got, want)
		}
	}
}
