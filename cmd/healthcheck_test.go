package cmd

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"chatbot/internal/redistest"
)

// readyServer answers GET /readyz with status and counts the requests it saw.
func readyServer(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.WriteHeader(status)
		w.Write([]byte("redis: not reachable\n"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestHealthcheckReady(t *testing.T) {
	srv, hits := readyServer(t, http.StatusOK)
	out, err := runCLI(t, "healthcheck", "--url", srv.URL+"/readyz")
	if err != nil || !strings.HasPrefix(out, "ok: GET "+srv.URL+"/readyz: 200") || hits.Load() != 1 {
		t.Fatalf("out %q, err %v, hits %d", out, err, hits.Load())
	}
}

func TestHealthcheckNotReady(t *testing.T) {
	srv, _ := readyServer(t, http.StatusServiceUnavailable)
	out, err := runCLI(t, "healthcheck", "--url", srv.URL+"/readyz")
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "redis: not reachable") || out != "" {
		t.Fatalf("out %q, err %v", out, err)
	}
}

// TestHealthcheckDefaultURL: without --url the probe goes to /readyz at server.addr's port.
func TestHealthcheckDefaultURL(t *testing.T) {
	srv, hits := readyServer(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if _, err := runCLI(t, "healthcheck", "--server.addr", ":"+port); err != nil || hits.Load() != 1 {
		t.Fatalf("err %v, hits %d", err, hits.Load())
	}
}

// TestHealthcheckAdminAddr: with server.admin_addr, /readyz is there, not on server.addr.
func TestHealthcheckAdminAddr(t *testing.T) {
	srv, hits := readyServer(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if _, err := runCLI(t, "healthcheck", "--server.addr", redistest.FreeAddr(t), "--server.admin_addr", "127.0.0.1:"+port); err != nil || hits.Load() != 1 {
		t.Fatalf("err %v, hits %d", err, hits.Load())
	}
}

func TestHealthcheckNothingListening(t *testing.T) {
	addr := redistest.FreeAddr(t)
	_, err := runCLI(t, "healthcheck", "--url", "http://"+addr+"/readyz")
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v", err)
	}
}

// TestHealthcheckSilentServer: a server that accepts and never answers fails the check at
// --timeout instead of hanging the container runtime's probe.
func TestHealthcheckSilentServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	_, err := runCLI(t, "healthcheck", "--url", srv.URL+"/readyz", "--timeout", "200ms")
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("got %v", err)
	}
}

func TestHealthcheckBadFlags(t *testing.T) {
	if _, err := runCLI(t, "healthcheck", "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("--timeout 0s: got %v", err)
	}
	if _, err := runCLI(t, "healthcheck", "--server.addr", "8080"); err == nil || !strings.Contains(err.Error(), "server.addr") {
		t.Errorf("server.addr without a port: got %v", err)
	}
}

func TestReadyURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"10.1.2.3:80":    "http://10.1.2.3:80/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		if got, err := readyURL(addr); err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
