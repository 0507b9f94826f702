package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// redisNode is one redis-server process the test started, on 127.0.0.1:port, with its data
// and log in dir. It can be killed and started again on the same port with the same data.
type redisNode struct {
	t    testing.TB
	port int
	dir  string
	args []string // extra redis-server arguments

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
	cli  rueidis.Client
}

// Addr is host:port.
func (n *redisNode) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// redisPortRange: data ports are drawn from here (as scripts/redis.sh does), so port+10000 (the
// cluster bus) stays below the kernel's ephemeral range and never collides with a client port.
const redisPortLow, redisPortHigh = 11000, 22000

// portFree reports whether nothing listens on 127.0.0.1:port.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func freeRedisPort(bus bool) (int, error) {
	for range 1000 {
		p := redisPortLow + rand.IntN(redisPortHigh-redisPortLow)
		if portFree(p) && (!bus || portFree(p+10000)) {
			return p, nil
		}
	}
	return 0, errors.New("no free port for redis-server")
}

// startRedis starts a redis-server with args added to a base configuration (loopback only, no
// RDB snapshots, log to dir/redis.log) and waits until it answers. A server that loses a port
// race is started again on another port. The test's cleanup kills it.
func startRedis(t testing.TB, name string, bus bool, args ...string) *redisNode {
	t.Helper()
	var lastErr error
	for range 5 {
		port, err := freeRedisPort(bus)
		if err != nil {
			t.Fatal(err)
		}
		n := &redisNode{t: t, port: port, dir: filepath.Join(t.TempDir(), name), args: args}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if lastErr = n.start(); lastErr == nil {
			t.Cleanup(n.cleanup)
			return n
		}
		t.Logf("redis %s on :%d did not start (%v), trying another port", name, port, lastErr)
	}
	t.Fatalf("redis %s: %v", name, lastErr)
	return nil
}

// start runs redis-server on n.port and waits up to 10s for it to answer PING as the process we
// started (not some other server that took the port).
func (n *redisNode) start() error {
	args := append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(n.port), "--dir", n.dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(n.dir, "redis.log"),
	}, n.args...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = n.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", n.logTail(5))
		default:
		}
		if info, err := n.do(context.Background(), "INFO", "server"); err == nil {
			if strings.Contains(info, "process_id:"+strconv.Itoa(cmd.Process.Pid)+"\r") {
				return nil
			}
			n.kill()
			return fmt.Errorf("port %d answered by another redis-server", n.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.kill()
	return fmt.Errorf("redis-server on :%d not answering after 10s: %s", n.port, n.logTail(5))
}

// client is a plain (non-cluster) connection to this one node, made on first use.
func (n *redisNode) client() (rueidis.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cli != nil {
		return n.cli, nil
	}
	cli, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{n.Addr()}, ForceSingleClient: true, DisableCache: true,
		Dialer: net.Dialer{Timeout: time.Second}, ConnWriteTimeout: 3 * time.Second,
		DisableRetry: true, AlwaysRESP2: true, // RESP2: INFO and CLUSTER INFO as plain text
	})
	if err != nil {
		return nil, err
	}
	n.cli = cli
	return cli, nil
}

// do runs one command on this node and returns its reply as text (arrays joined by newlines).
func (n *redisNode) do(ctx context.Context, args ...string) (string, error) {
	cli, err := n.client()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	msg, err := cli.Do(ctx, cli.B().Arbitrary(args...).Build()).ToMessage()
	if err != nil {
		return "", err
	}
	return text(msg), nil
}

func text(m rueidis.RedisMessage) string {
	if arr, err := m.ToArray(); err == nil {
		parts := make([]string, len(arr))
		for i, e := range arr {
			parts[i] = text(e)
		}
		return strings.Join(parts, "\n")
	}
	if s, err := m.ToString(); err == nil {
		return s
	}
	if i, err := m.AsInt64(); err == nil {
		return strconv.FormatInt(i, 10)
	}
	return ""
}

// info returns field of INFO section ("" when absent or the node does not answer).
func (n *redisNode) info(section, field string) string {
	s, err := n.do(context.Background(), "INFO", section)
	if err != nil {
		return ""
	}
	return infoField(s, field)
}

func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// alive reports whether the process still runs.
func (n *redisNode) alive() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (n *redisNode) kill() { n.signal(syscall.SIGKILL, 10*time.Second) }

// signal sends sig and waits up to wait for the process to exit; false if it did not.
func (n *redisNode) signal(sig syscall.Signal, wait time.Duration) bool {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// restart starts the server again on the same port with the same data directory.
func (n *redisNode) restart() {
	n.t.Helper()
	if n.alive() {
		n.t.Fatalf("redis on %s: restart of a running server", n.Addr())
	}
	if err := n.start(); err != nil {
		n.t.Fatalf("redis on %s: restart: %v", n.Addr(), err)
	}
}

func (n *redisNode) cleanup() {
	n.kill()
	n.mu.Lock()
	if n.cli != nil {
		n.cli.Close()
	}
	n.mu.Unlock()
	if n.t.Failed() {
		n.t.Logf("redis %s log (tail):\n%s", n.Addr(), n.logTail(30))
	}
}

func (n *redisNode) logTail(lines int) string {
	return tail(filepath.Join(n.dir, "redis.log"), lines)
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
