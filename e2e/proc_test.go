package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatbot/internal/redistest"
)

// proc is a chatbot process the test started: `chatbot serve` or `chatbot work`, configured by
// environment (CHATBOT_*), its stderr and stdout in log.
type proc struct {
	t    testing.TB
	name string
	log  string // path of its output
	addr string // host:port of its HTTP server (serve: server.addr; work: worker.metrics_addr)

	cmd  *exec.Cmd
	done chan struct{} // closed when it exits
	mu   sync.Mutex
	err  error // cmd.Wait's result, once done
}

// env is a set of CHATBOT_* variables.
type env map[string]string

// with returns a copy of e with more variables.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// startProc starts the binary with args in an empty working directory (no config.yaml), with
// the parent's environment minus every CHATBOT_* variable, plus vars. The test's cleanup kills
// it and, if the test failed, prints its log.
func startProc(t testing.TB, name string, vars env, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, vars, binary, args...)
}

// startCmd is startProc for another command line, such as the binary run by a shell that
// sets a limit first.
func startCmd(t testing.TB, name string, vars env, path string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{t: t, name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHATBOT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p.cmd = cmd
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	return p
}

// startServe starts `chatbot serve` on a free loopback port and waits for /readyz 200.
func startServe(t testing.TB, name string, vars env) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := redistest.FreeAddr(t)
		p := startProc(t, name, vars.with("CHATBOT_SERVER_ADDR", addr), "serve")
		p.addr = addr
		err := p.waitReady(30 * time.Second)
		if err == nil {
			return p
		}
		// Another process may have taken the port between FreeAddr and listen.
		if attempt < 3 && !p.running() && strings.Contains(tail(p.log, 5), "listen") {
			t.Logf("%s: %v; retrying on another port", name, err)
			continue
		}
		t.Fatalf("%s: %v\n%s", name, err, tail(p.log, 30))
	}
}

// startWork starts `chatbot work` with its /metrics, /healthz and /readyz on a free loopback
// port (worker.metrics_addr) and waits until its consumers run and /readyz is 200.
func startWork(t testing.TB, name string, vars env, replicas int) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := redistest.FreeAddr(t)
		p := startProc(t, name, vars.with("CHATBOT_WORKER_METRICS_ADDR", addr), "work", "--replicas", strconv.Itoa(replicas))
		p.addr = addr
		err := p.waitLog(`"worker started"`, 30*time.Second)
		if err == nil {
			err = p.waitReady(30 * time.Second)
		}
		if err == nil {
			return p
		}
		if attempt < 3 && !p.running() && strings.Contains(tail(p.log, 5), "listen") {
			t.Logf("%s: %v; retrying on another port", name, err)
			continue
		}
		t.Fatalf("%s: %v\n%s", name, err, tail(p.log, 30))
	}
}

// URL is the base URL of its HTTP server.
func (p *proc) URL() string { return "http://" + p.addr }

// readyz is the status of GET /readyz (0 when the request fails).
func (p *proc) readyz() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReadyz waits until /readyz answers status.
func (p *proc) waitReadyz(status int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := 0
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("exited (%v) while waiting for /readyz %d", p.exitErr(), status)
		}
		if last = p.readyz(); last == status {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("/readyz is %d, not %d, after %s", last, status, timeout)
}

func (p *proc) waitReady(timeout time.Duration) error { return p.waitReadyz(http.StatusOK, timeout) }

// waitLog waits until the process's output contains s.
func (p *proc) waitLog(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		if strings.Contains(string(b), s) {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("exited (%v) before logging %s", p.exitErr(), s)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("no %s in the log after %s", s, timeout)
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and waits up to timeout for the exit; it returns the exit code (-1
// when the process did not exit in time, and is then killed).
func (p *proc) terminate(timeout time.Duration) int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return -1
	}
	var ee *exec.ExitError
	if err := p.exitErr(); errors.As(err, &ee) {
		return ee.ExitCode()
	} else if err != nil {
		return -1
	}
	return 0
}

// cleanup kills the process if it still runs, and reports a data race it printed (the binary
// has -race when the tests do) or, if the test failed, its log.
func (p *proc) cleanup() {
	if p.running() {
		p.kill()
	}
	b, _ := os.ReadFile(p.log)
	if strings.Contains(string(b), "WARNING: DATA RACE") {
		p.t.Errorf("%s: data race:\n%s", p.name, b)
		return
	}
	if p.t.Failed() {
		p.t.Logf("%s log (tail):\n%s", p.name, tail(p.log, 60))
	}
}

// metric is the sum of every sample of the Prometheus series name (all label sets) on the
// process's /metrics; -1 when it cannot be read.
func (p *proc) metric(name string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return -1
	}
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			total += v
		}
	}
	return total
}
