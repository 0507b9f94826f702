package web_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// serveOn runs a server with Serve on a loopback listener until the returned cancel.
func serveOn(t *testing.T, st *store.Store, opt web.Options) (url string, stop func() (error, time.Duration)) {
	t.Helper()
	opt.Store = st
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var res error
	var took time.Duration
	stop = func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			res = <-done
			took = time.Since(start)
		})
		return res, took
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestGracefulShutdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b, store.Options{})
		base, stop := serveOn(t, st, web.Options{ShutdownTimeout: 5 * time.Second})
		ts := &httptest.Server{URL: base}
		sess, _ := st.CreateSession(context.Background(), "a")
		socks := []*client{dial(t, ts, tokenQuery(sess, "")), dial(t, ts, tokenQuery(sess, "stream=1"))}
		socks[1].send("hello")
		socks[1].nextOf(chat.FrameAck)

		closed := make(chan [2]any, len(socks))
		for _, c := range socks {
			go func() {
				code, reason := c.closed()
				closed <- [2]any{code, reason}
			}()
		}
		err, took := stop()
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
		if took > 5*time.Second {
			t.Fatalf("shutdown took %s, over server.shutdown_timeout", took)
		}
		for range socks {
			got := <-closed
			if got[0] != websocket.StatusGoingAway || got[1] != "server shutting down" {
				t.Fatalf("socket closed with %v %q, want 1001 server shutting down", got[0], got[1])
			}
		}
		if _, err := http.Get(base + "/healthz"); err == nil {
			t.Fatal("server still accepts connections after shutdown")
		}
	})
}

// A client that never answers the close handshake does not hold the shutdown past its
// timeout.
func TestShutdownDropsUnresponsiveSockets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b, store.Options{})
		base, stop := serveOn(t, st, web.Options{ShutdownTimeout: 300 * time.Millisecond})
		sess, _ := st.CreateSession(context.Background(), "a")
		// A raw upgrade, then silence: nothing reads or answers the close frame.
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET /chat?token=" + sess.Token + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(base, "http://") +
			"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", res, err)
		}
		storetest.Eventually(t, wait, "the socket to be open", func() bool {
			_, body, _ := httpDo(t, &httptest.Server{URL: base}, "GET", "/metrics", "", "")
			return strings.Contains(body, "\nchatbot_web_sockets_open 1\n")
		})
		err, took := stop()
		if err != nil || took > 3*time.Second {
			t.Fatalf("shutdown with a silent client: %v after %s (timeout 300ms)", err, took)
		}
	})
}
