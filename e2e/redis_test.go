package e2e

import (
	"os"
	"strings"
	"testing"

	"chatbot/internal/redistest"
)

// startRedis starts a redis-server for t (internal/redistest: loopback, no snapshots, its data
// and log in t's temp directory) with args added; t's cleanup stops it.
func startRedis(t testing.TB, name string, args ...string) *redistest.Node {
	t.Helper()
	return redistest.NewNode(t, redistest.Options{Name: name, Args: args})
}

// restart starts a killed node again on the same port with the same data, or fails t.
func restart(t testing.TB, n *redistest.Node) {
	t.Helper()
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
}

// tail is the last lines of a file (or why it could not be read).
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
