// Package redistest starts throwaway redis-server processes for tests, so that a plain
// `go test ./...` needs nothing set up: no script, no environment, only redis-server on PATH
// (`apt-get install redis-server redis-tools`, or `make test`, which installs it).
//
// Two ways to use it:
//
//   - Shared servers, one set per test binary: SingleURL, ClusterURL and TLSNode start a
//     single node, a 6-node Redis Cluster (3 primaries, 3 replicas) and a TLS-only node on
//     free loopback ports, each on first use, so a package that needs only the single node
//     starts nothing else. Tests keep apart by key prefix (pkg/store/storetest). The package's
//     TestMain must call Main (or Wrap), which stops them when its tests are done:
//
//     func TestMain(m *testing.M) { redistest.Main(m) }
//
//     CHATBOT_TEST_REDIS_URL and CHATBOT_TEST_REDIS_CLUSTER_URL, when set, point at a Redis
//     that runs already; it is used instead and nothing is started.
//
//   - Servers of one test, to break on purpose: NewNode and NewCluster start them for t (with
//     any redis-server arguments: AOF, ACL users), and Node.Kill, Node.Restart, Node.PID and
//     Cluster.WaitHealthy drive them; t's cleanup stops them.
//
// Every server runs in its own process group, is stopped by its PID (the group), and on Linux
// is killed by the kernel if the test binary dies first (a panic, -timeout, SIGKILL): no
// redis-server outlives its tests. Ports are drawn at random below the kernel's ephemeral
// range, checked free, and a server that loses a race for its port (other test binaries run
// at the same time) is started again on another. Nothing waits a fixed time: every wait polls
// with a deadline.
//
// The command redistest (./internal/redistest/cmd/redistest) starts the same servers for a
// shell: scripts/bench.sh runs under it.
package redistest
