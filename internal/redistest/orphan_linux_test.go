package redistest_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatbot/pkg/retry"
)

// A test binary killed with SIGKILL (no cleanup runs) leaves no redis-server behind: the
// kernel kills its servers. The test runs itself as that binary.
func TestNoOrphanAfterSIGKILL(t *testing.T) {
	t.Parallel()
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), holdServersEnv+"="+t.TempDir())
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints the PIDs of its servers, one a line, then "ready".
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			break
		}
		if pid, ok := strings.CutPrefix(line, "pid "); ok {
			n, _ := strconv.Atoi(pid)
			pids = append(pids, n)
		}
	}
	if len(pids) != 2 {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("the child printed %d server PIDs, want 2", len(pids))
	}
	child.Process.Kill() // SIGKILL: no cleanup, no TestMain epilogue
	child.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pid := range pids {
		wait := retry.Backoff{Base: time.Millisecond, Max: 20 * time.Millisecond}
		for alive(pid) {
			if !wait.Wait(ctx) {
				t.Fatalf("redis-server %d still runs 10s after its test binary was killed", pid)
			}
		}
	}
}

// alive reports whether pid runs (a zombie does not count: it waits for its parent).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
