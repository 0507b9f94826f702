package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"chatbot/internal/redistest"
)

// TestE2ESocketFlood: a serve whose open-file limit is low (400) is flooded with more silent
// sockets than it has files. It refuses the sockets past limits.max_sockets (auto: 90% of the
// limit, leaving at least 64 files) with 503 before the upgrade, and /test, /healthz and
// /readyz keep answering within a second. Without the cap the sockets took every file and
// the health routes timed out.
func TestE2ESocketFlood(t *testing.T) {
	t.Parallel()
	const files, flood = 400, 420
	node := startRedis(t, "single")
	vars := env{
		"CHATBOT_REDIS_URL":                  "redis://" + node.Addr() + "/0",
		"CHATBOT_LIMITS_SOCKETS_PER_IP":      "0", // every socket comes from 127.0.0.1: only max_sockets counts
		"CHATBOT_LIMITS_SOCKETS_PER_SESSION": "1000",
		"CHATBOT_LOG_LEVEL":                  "warn",
	}
	addr := redistest.FreeAddr(t)
	serve := startCmd(t, "serve", vars.with("CHATBOT_SERVER_ADDR", addr),
		"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" serve`, files), binary)
	serve.addr = addr
	if err := serve.waitReady(30 * time.Second); err != nil {
		t.Fatalf("serve: %v\n%s", err, tail(serve.log, 30))
	}

	token, err := createSession(t.Context(), serve.URL(), "flood")
	if err != nil {
		t.Fatal(err)
	}
	upgraded, refused := 0, 0
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /chat?token=%s HTTP/1.1\r\nHost: %s\r\n"+
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
			"Sec-WebSocket-Version: 13\r\n\r\n", token, addr)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("socket %d: %v", upgraded+refused+1, err)
		}
		switch res.StatusCode {
		case http.StatusSwitchingProtocols:
			upgraded++
		case http.StatusServiceUnavailable:
			io.Copy(io.Discard, res.Body)
			refused++
		default:
			t.Fatalf("socket %d: %s", upgraded+refused+1, res.Status)
		}
	}
	if refused == 0 || upgraded > files*9/10 {
		t.Fatalf("%d sockets upgraded, %d refused; want the ones past 90%% of %d files refused", upgraded, refused, files)
	}
	fast := &http.Client{Timeout: time.Second}
	for _, path := range []string{"/test", "/healthz", "/readyz"} {
		res, err := fast.Get(serve.URL() + path)
		if err != nil {
			t.Fatalf("%s with %d sockets open: %v", path, upgraded, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s with %d sockets open: %s", path, upgraded, res.Status)
		}
	}
}
