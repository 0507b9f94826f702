// Package e2e holds the end-to-end tests of the chatbot binary: they build it once, start real
// processes on loopback — redis-server nodes (a 6-node Redis Cluster, or one node with AOF),
// several `chatbot serve` and `chatbot work` — drive them with real WebSocket clients, and
// break them on purpose (kill -9, SIGTERM, a Redis restart, a primary failover) to check that
// every reply reaches its user once, in order.
//
// The package has no code outside its tests. Each test starts and stops everything it uses
// itself; nothing is shared between tests but the built binary. Run them with
//
//	make test-e2e          # or: go test -race -count=1 ./e2e
//
// They need redis-server on PATH (`make test` installs it); internal/redistest starts the nodes.
package e2e
