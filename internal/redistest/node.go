package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatbot/pkg/retry"
)

// startTimeout bounds the wait for a server to answer after it starts.
const startTimeout = 20 * time.Second

// ErrNoRedis means redis-server is not on PATH; its text says how to install it.
var ErrNoRedis = errors.New("redistest: redis-server not found on PATH: install it with `apt-get install redis-server redis-tools`, or run `make test`, which installs it")

// Installed is nil if redis-server is on PATH, else ErrNoRedis.
func Installed() error {
	_, err := lookRedis()
	return err
}

// lookRedis finds redis-server.
func lookRedis() (string, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNoRedis
	}
	return path, nil
}

// Options say how to start a node.
type Options struct {
	// Name names the node in its directory and in errors. Default "redis".
	Name string
	// Args are more redis-server arguments, after the base ones, so they win
	// ("--appendonly", "yes"). The base: loopback only, no RDB snapshots, no AOF, log to the
	// node's directory.
	Args []string
	// Dir holds the node's directory (data, nodes.conf, redis.log). Default: a temp directory
	// of its own, removed by Stop.
	Dir string
	// TLS makes the node listen on TLS only, with a certificate for 127.0.0.1 signed by a CA
	// made for it (Node.CAFile). Clients need no certificate.
	TLS bool

	cluster bool // cluster mode, with its bus on port+busOffset (StartCluster)
}

// Node is one redis-server process on 127.0.0.1, started by StartNode or NewNode. It can be
// killed and started again on the same port with the same data. Its methods are safe for
// concurrent use.
type Node struct {
	name   string
	args   []string
	port   int
	dir    string // the node's own directory
	base   string // removed by Stop when the node made it, else ""
	caFile string // TLS only
	bus    bool   // cluster mode
	admin  *conn

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartNode starts a redis-server on a free loopback port and waits until it answers. A
// server that loses its port to another process is started again on another port.
func StartNode(opt Options) (*Node, error) {
	if _, err := lookRedis(); err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = "redis"
	}
	base, owned := opt.Dir, ""
	if base == "" {
		dir, err := os.MkdirTemp("", "chatbot-redistest-"+opt.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		base, owned = dir, dir
	}
	var tlsConfig *tls.Config
	var caFile, certs string
	if opt.TLS {
		var err error
		if certs, err = os.MkdirTemp(base, opt.Name+"-certs-"); err == nil {
			caFile, tlsConfig, err = writeServerCerts(certs)
		}
		if err != nil {
			os.RemoveAll(owned)
			return nil, fmt.Errorf("redistest: %s: %w", opt.Name, err)
		}
	}
	var lastErr error
	for range 5 {
		port, err := freePort(opt.cluster)
		if err != nil {
			lastErr = err
			break
		}
		n := &Node{name: opt.Name, port: port, dir: filepath.Join(base, opt.Name+"-"+strconv.Itoa(port)),
			base: owned, caFile: caFile, bus: opt.cluster, admin: &conn{addr: addrOf(port), tls: tlsConfig}}
		n.args = append(n.baseArgs(certs), opt.Args...)
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			lastErr = err
			break
		}
		var lost bool
		if lost, lastErr = n.start(); lastErr == nil {
			return n, nil
		}
		if !lost {
			break
		}
		os.RemoveAll(n.dir)
	}
	os.RemoveAll(owned)
	return nil, fmt.Errorf("redistest: start %s: %w", opt.Name, lastErr)
}

// NewNode starts a node for t (StartNode) and stops it when t ends, printing the end of its
// log if t failed. It fails t if the node does not start.
func NewNode(t testing.TB, opt Options) *Node {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	n, err := StartNode(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("redis %s on %s, log (tail):\n%s", n.name, n.Addr(), n.LogTail(30))
		}
	})
	return n
}

func addrOf(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// baseArgs: loopback only, no persistence, in its own directory, logging to stdout (its
// redis.log); TLS (with the certificates in certs) and cluster mode when asked.
func (n *Node) baseArgs(certs string) []string {
	args := []string{"--bind", "127.0.0.1", "--dir", n.dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "no", "--logfile", ""}
	if n.caFile != "" {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(n.port),
			"--tls-cert-file", filepath.Join(certs, "server.pem"),
			"--tls-key-file", filepath.Join(certs, "server-key.pem"),
			"--tls-ca-cert-file", n.caFile, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(n.port))
	}
	if n.bus {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0")
	}
	return args
}

// start runs redis-server and waits until it answers INFO as the process just started (not
// some other server on the port), its data loaded. lost reports that it failed because
// another process had the port: the caller tries another one.
func (n *Node) start() (lost bool, err error) {
	path, err := lookRedis()
	if err != nil {
		return false, err
	}
	log, err := os.OpenFile(n.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	cmd := exec.Command(path, n.args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	started := make(chan error, 1)
	done := make(chan struct{})
	go run(cmd, log, started, done)
	if err := <-started; err != nil {
		return false, err
	}
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	pid := strconv.Itoa(cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err = poll(ctx, func() error {
		select {
		case <-done:
			lost = true
			return retry.Stop(fmt.Errorf("redis-server on :%d exited: %s", n.port, n.LogTail(3)))
		default:
		}
		info, err := n.Do(ctx, "INFO")
		switch {
		case err != nil:
			return err
		case infoField(info, "process_id") != pid:
			lost = true
			return retry.Stop(fmt.Errorf("port %d answered by another redis-server", n.port))
		case infoField(info, "loading") != "0":
			return errors.New("loading its data")
		}
		return nil
	})
	if err != nil {
		n.Kill()
		if !lost {
			err = fmt.Errorf("redis-server on :%d not answering after %s (%v): %s", n.port, startTimeout, err, n.LogTail(5))
		}
	}
	return lost, err
}

// run starts cmd, reports Start's error on started, waits for the server to exit and closes
// done. The kernel's parent-death signal (sysProcAttr) follows the thread that forked, not the
// process: run keeps that thread, locked, until the server exits. (A goroutine leak detector
// sees run while a server runs: goleak.IgnoreAnyFunction("chatbot/internal/redistest.run").)
func run(cmd *exec.Cmd, log *os.File, started chan<- error, done chan<- struct{}) {
	runtime.LockOSThread()
	err := cmd.Start()
	log.Close()
	started <- err
	if err == nil {
		cmd.Wait()
		close(done)
	}
}

// Addr is 127.0.0.1:port.
func (n *Node) Addr() string { return addrOf(n.port) }

// Port is the port it listens on (its TLS port for a TLS node).
func (n *Node) Port() int { return n.port }

// URL is redis://127.0.0.1:port/0, or rediss:// for a TLS node.
func (n *Node) URL() string {
	if n.caFile != "" {
		return "rediss://" + n.Addr() + "/0"
	}
	return "redis://" + n.Addr() + "/0"
}

// CAFile is the PEM of the CA that signed a TLS node's certificate ("" for a plain node).
func (n *Node) CAFile() string { return n.caFile }

// Dir is the node's directory: its data, nodes.conf and redis.log.
func (n *Node) Dir() string { return n.dir }

// PID is the process ID of the server started last.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.Process.Pid
}

// Do runs one command on this node (on its own connection, RESP2) and returns the reply as
// text: arrays as their elements joined by newlines. It gives up after 3s.
func (n *Node) Do(ctx context.Context, args ...string) (string, error) {
	return n.admin.do(ctx, args...)
}

// Calls is how many times the node has run the commands named (lower case, "evalsha"; INFO
// commandstats, commands run by scripts included), or every command but INFO when none is
// named.
func (n *Node) Calls(ctx context.Context, cmds ...string) (int, error) {
	out, err := n.Do(ctx, "INFO", "commandstats")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, line := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		name = strings.TrimPrefix(name, "cmdstat_")
		if !ok || name == "info" || (len(cmds) > 0 && !slices.Contains(cmds, name)) {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		c, err := strconv.Atoi(calls)
		if err != nil {
			return 0, fmt.Errorf("INFO commandstats: %q", line)
		}
		total += c
	}
	return total, nil
}

// Info is field of an INFO section ("" when absent or the node does not answer).
func (n *Node) Info(section, field string) string {
	s, err := n.Do(context.Background(), "INFO", section)
	if err != nil {
		return ""
	}
	return infoField(s, field)
}

// Alive reports whether the process still runs.
func (n *Node) Alive() bool {
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

// Kill sends SIGKILL to the server's process group and waits for the server to exit: a
// crash, as `kill -9` does.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	n.admin.close()
}

// Restart starts the server again, after Kill, on the same port with the same data and
// arguments, and waits until it answers.
func (n *Node) Restart() error {
	if n.Alive() {
		return fmt.Errorf("redistest: restart of %s on %s: still running", n.name, n.Addr())
	}
	if _, err := n.start(); err != nil {
		return fmt.Errorf("redistest: restart %s on %s: %w", n.name, n.Addr(), err)
	}
	return nil
}

// Stop kills the server and removes its directory if StartNode made it.
func (n *Node) Stop() {
	n.Kill()
	if n.base != "" {
		os.RemoveAll(n.base)
	}
}

func (n *Node) logPath() string { return filepath.Join(n.dir, "redis.log") }

// LogTail is the last lines of the node's log (or why it could not be read).
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.logPath())
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
