package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// These tests set each HTTP and socket limit of the web tier to a value other than its
// default and check the server applies it. cmd's TestOptionsFromConfig checks that each
// configuration key reaches its option.

// limits.max_request_bytes: a body over it gets 413 with a detail naming the limit.
func TestOptionMaxRequestBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{MaxRequestBytes: 1024}, store.Options{})
		body := func(size int) string {
			prefix := `{"name":"alice","pad":"`
			return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
		}
		if status, res, _ := httpDo(t, e.ts, "POST", "/token", "application/json", body(1000)); status != http.StatusOK {
			t.Fatalf("1000-byte body: %d %s, want 200", status, res)
		}
		for _, tc := range []struct{ ctype, body string }{
			{"application/json", body(2000)}, // within the default of 16 KiB
			{"application/x-www-form-urlencoded", "name=alice&pad=" + strings.Repeat("x", 2000)},
		} {
			status, res, h := httpDo(t, e.ts, "POST", "/token", tc.ctype, tc.body)
			var got struct{ Detail string }
			json.Unmarshal([]byte(res), &got)
			if status != http.StatusRequestEntityTooLarge || h.Get("Content-Type") != "application/json" ||
				got.Detail != "Request body larger than 1024 bytes" {
				t.Fatalf("%s body of %d bytes: %d %s %s, want 413 with the limit", tc.ctype, len(tc.body), status, h.Get("Content-Type"), res)
			}
		}
	})
}

// limits.max_header_bytes: headers over it (plus net/http's 4 KiB) get 431.
func TestOptionMaxHeaderBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b, store.Options{})
		base, _ := serveOn(t, st, web.Options{MaxHeaderBytes: 1024})
		get := func(header int) int {
			req, _ := http.NewRequest("GET", base+"/test", nil)
			req.Header.Set("X-Pad", strings.Repeat("h", header))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if status := get(512); status != http.StatusOK {
			t.Fatalf("512-byte header: %d, want 200", status)
		}
		if status := get(8 << 10); status != http.StatusRequestHeaderFieldsTooLarge { // within the default of 32 KiB
			t.Fatalf("8 KiB header: %d, want 431", status)
		}
	})
}

// server.read_header_timeout, server.read_timeout and server.idle_timeout: each ends a slow or
// idle HTTP connection long before its default would.
func TestOptionHTTPTimeouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := storetest.Open(t, b, store.Options{})
		base, _ := serveOn(t, st, web.Options{ReadHeaderTimeout: 200 * time.Millisecond,
			ReadTimeout: 500 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
		// within bounds every wait below; each is less than the key's default.
		open := func(within time.Duration, request string) (net.Conn, *bufio.Reader) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			conn.SetDeadline(time.Now().Add(within))
			if _, err := conn.Write([]byte(request)); err != nil {
				t.Fatal(err)
			}
			return conn, bufio.NewReader(conn)
		}

		// Headers never finished (default 5s): the connection is closed unanswered.
		_, r := open(4*time.Second, "GET /test HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Fatalf("half-sent headers: read %q, %v; want the connection closed", rest, err)
		}

		// A body never finished (default 15s): the request ends with what arrived.
		_, r = open(10*time.Second, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Content-Length: 100\r\n\r\n{\"name\":")
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("half-sent body: %v; want an answer once server.read_timeout passes", err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("half-sent body created a session")
		}

		// An idle keep-alive connection (default 60s) is closed.
		_, r = open(10*time.Second, "GET /test HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err = http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("GET /test: %d close=%v, want 200 kept alive", res.StatusCode, res.Close)
		}
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Fatalf("idle connection: read %q, %v; want it closed", rest, err)
		}
	})
}

// limits.send_queue_bytes: a frame that does not fit in the queue closes the socket with 1013.
func TestOptionSendQueueBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SendQueueBytes: 65536}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		emit := func(text string) {
			if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: text}); err != nil {
				t.Fatal(err)
			}
		}
		emit(strings.Repeat("a", 60<<10))
		if f := c.next(); f.Type != chat.FrameDelta || len(f.Text) != 60<<10 {
			t.Fatalf("60 KiB delta: got %v %d bytes", f.Type, len(f.Text))
		}
		emit(strings.Repeat("b", 70<<10)) // within the default of 1 MiB
		c.expectClose(websocket.StatusTryAgainLater, "Too slow reading: reconnect with ?last_id=OFFSET to resume")
	})
}

// slowClient opens a socket of the session that never reads, on a small receive buffer.
func slowClient(e *env, sess chat.Session) {
	e.t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return conn, err
	}}}
	conn, _, err := websocket.Dial(e.ctx, wsURL(e.ts, tokenQuery(sess, "stream=1")), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.CloseNow() })
	storetest.Eventually(e.t, wait, "the socket to open", func() bool {
		return metric(e.t, e.ts, "chatbot_web_sockets_open") == "1"
	})
}

// stuck is a frame larger than what the kernel buffers for a socket that does not read
// (tcp_wmem's maximum is 4 MiB by default), so writing it blocks.
var stuck = chat.Event{Type: chat.FrameDelta, Text: strings.Repeat("s", 8<<20)}

// singleOnly runs f on the single node only. The tests with a stuck frame publish 8 MiB
// notifications: on the test cluster (cluster-node-timeout 2s) the bus traffic could stall the
// nodes into a failover, failing the tests that follow; the limits are the web tier's and the
// same on either backend.
func singleOnly(t *testing.T, f func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends(t) {
		if b.Name == "single" {
			t.Run(b.Name, func(t *testing.T) { f(t, b) })
		}
	}
}

// limits.send_queue_frames: while the writer is stuck, the frame after the limit closes the
// socket with 1013.
func TestOptionSendQueueFrames(t *testing.T) {
	singleOnly(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SendQueueFrames: 16,
			SendQueueBytes: 64 << 20, WriteTimeout: time.Minute}, store.Options{})
		sess := e.session()
		slowClient(e, sess)
		if _, err := e.st.Emit(e.ctx, sess.Token, stuck); err != nil {
			t.Fatal(err)
		}
		// 40 small frames: more than 16 even if the writer took a few along with the stuck one,
		// far fewer than the default of 256.
		for range 40 {
			if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		storetest.Eventually(t, wait, "the slow socket closed with 1013", func() bool {
			return metric(t, e.ts, `chatbot_web_socket_closes_total{code="1013"}`) == "1"
		})
		storetest.Eventually(t, wait, "the slow socket to be gone", func() bool {
			return metric(t, e.ts, "chatbot_web_sockets_open") == "0"
		})
	})
}

// server.write_timeout: a write that cannot finish drops the connection.
func TestOptionWriteTimeout(t *testing.T) {
	singleOnly(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{WriteTimeout: 300 * time.Millisecond,
			SendQueueBytes: 64 << 20}, store.Options{})
		sess := e.session()
		slowClient(e, sess)
		if _, err := e.st.Emit(e.ctx, sess.Token, stuck); err != nil {
			t.Fatal(err)
		}
		// Within 8s of the frame's emit: at the default of 10s the write would still be going on.
		storetest.Eventually(t, 8*time.Second, "the stuck socket to be dropped", func() bool {
			return metric(t, e.ts, "chatbot_web_sockets_open") == "0"
		})
		if n := metric(t, e.ts, `chatbot_web_socket_closes_total{code="1013"}`); n != "" {
			t.Fatalf("%s 1013 closes: the queue limit, not the write timeout, closed the socket", n)
		}
	})
}
