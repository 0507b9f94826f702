package web_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
)

// A client that sends its headers slowly (slow loris) is dropped after ReadHeaderTimeout, and
// oversized headers are refused.
func TestSlowAndHugeHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b, store.Options{})
		base, _ := serveOn(t, st, web.Options{ReadHeaderTimeout: 200 * time.Millisecond})
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /test HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		start := time.Now()
		rest, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("the server kept a half-sent request open: %v", err)
		}
		if strings.Contains(string(rest), "API is Online") || time.Since(start) > 3*time.Second {
			t.Fatalf("half-sent request answered %q after %s", rest, time.Since(start))
		}

		req, _ := http.NewRequest("GET", base+"/test", nil)
		req.Header.Set("X-Huge", strings.Repeat("h", 64<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("64 KiB header: %d, want 431", res.StatusCode)
		}
	})
}
