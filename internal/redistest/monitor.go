package redistest

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Monitor is a MONITOR connection to a node: the commands it runs, scripts' included, one
// line each.
type Monitor struct {
	node  *Node
	lines chan string
}

// Monitor starts MONITOR on the node; its lines come for up to a minute, until the test ends.
func (n *Node) Monitor(t testing.TB) *Monitor {
	t.Helper()
	conn, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.ReadString('\n'); err != nil || ok != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", ok, err)
	}
	m := &Monitor{node: n, lines: make(chan string, 1<<16)}
	go func() {
		defer close(m.lines)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			m.lines <- strings.TrimSpace(line)
		}
	}()
	return m
}

// Until returns the lines monitored up to now: it runs ECHO with a mark on the node and reads
// until the mark's line.
func (m *Monitor) Until(t testing.TB, ctx context.Context) []string {
	t.Helper()
	mark := "monitor-mark-" + uuid.NewString()
	if _, err := m.node.Do(ctx, "ECHO", mark); err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range m.lines {
		if strings.Contains(line, mark) {
			return out
		}
		out = append(out, line)
	}
	t.Fatalf("MONITOR ended before its mark (%d lines)", len(out))
	return nil
}
