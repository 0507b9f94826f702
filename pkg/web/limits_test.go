package web_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

func TestOriginCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{AllowedOrigins: []string{"https://chat.example.com"}}, store.Options{})
		sess := e.session()
		try := func(origin string) (*websocket.Conn, *http.Response, error) {
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			return websocket.Dial(e.ctx, wsURL(e.ts, tokenQuery(sess, "")), &websocket.DialOptions{HTTPHeader: h})
		}
		for _, origin := range []string{"https://evil.example", "http://chat.example.com", "null"} {
			c, res, err := try(origin)
			if err == nil {
				c.CloseNow()
				t.Fatalf("origin %s was let in", origin)
			}
			if res == nil || res.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %s: %v, want 403", origin, err)
			}
		}
		for _, origin := range []string{"", "https://chat.example.com", e.ts.URL} {
			c, _, err := try(origin)
			if err != nil {
				t.Fatalf("origin %q refused: %v", origin, err)
			}
			c.CloseNow()
		}
	})
}

// A frame of exactly limits.max_message_bytes is accepted; one byte more closes with 1009.
func TestMessageSizeLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		const limit = 64
		e := setup(t, b, web.Options{MaxMessageBytes: limit}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send(strings.Repeat("a", limit))
		if f := c.next(); f.Type != chat.FrameAck {
			t.Fatalf("frame of exactly the limit: got %+v, want its ack", f.raw)
		}
		cmd := `{"type":"message","msg":"` + strings.Repeat("b", limit-27) + `"}`
		if len(cmd) != limit {
			t.Fatalf("command is %d bytes", len(cmd))
		}
		c.send(cmd)
		if f := c.next(); f.Type != chat.FrameAck {
			t.Fatalf("command of exactly the limit: got %+v", f.raw)
		}
		c.send(strings.Repeat("a", limit+1))
		c.expectClose(websocket.StatusMessageTooBig, "")
		storetest.Eventually(t, wait, "the 1009 close counted", func() bool {
			return metric(t, e.ts, `chatbot_web_socket_closes_total{code="1009"}`) == "1"
		})
	})
}

func TestBinaryFrameCloses1003(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		c := e.dial(tokenQuery(e.session(), ""))
		if err := c.c.Write(e.ctx, websocket.MessageBinary, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		c.expectClose(websocket.StatusUnsupportedData, "Binary frames are not supported: send text")
	})
}

func TestRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{MessagesPerMinute: 2}, store.Options{})
		c := e.dial(tokenQuery(e.session(), "stream=1"))
		c.send("one")
		c.send("two")
		c.sendJSON(map[string]string{"type": "message", "msg": "three", "client_id": "c3"})
		// The error frame is written at once; the acks come back through Redis: any order.
		acks, f := c.acksAndError(2)
		if acks != 2 || f.Code != chat.CodeRateLimited || f.ClientID != "c3" || !strings.Contains(f.Msg, "limit 2 per minute") {
			t.Fatalf("third message: %+v after %d acks, want rate_limited", f.raw, acks)
		}
		c.send("")
		if f := c.next(); f.Code != chat.CodeEmptyMessage {
			t.Fatalf("socket closed after rate_limited? got %+v", f.raw)
		}
	})
}

func TestTooManyPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{MaxPending: 2}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send("one")
		c.send("two")
		c.send("three")
		if acks, f := c.acksAndError(2); acks != 2 || f.Code != chat.CodeTooManyPending || !strings.Contains(f.Msg, "limit 2") {
			t.Fatalf("third message: %+v after %d acks, want too_many_pending", f.raw, acks)
		}
		// Once answered, sending works again on the same socket.
		e.worker(sess.Token, nil)
		c.nextOf(chat.FrameMessage)
		c.nextOf(chat.FrameMessage)
		c.send("four")
		if f := c.nextOf(chat.FrameMessage); f.Msg != "echo: four" {
			t.Fatalf("after the replies: %+v", f.raw)
		}
	})
}

func TestSocketsPerSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SocketsPerSession: 2}, store.Options{})
		sess := e.session()
		first := e.dial(tokenQuery(sess, ""))
		e.dial(tokenQuery(sess, ""))
		e.dial(tokenQuery(sess, "")).expectClose(websocket.StatusPolicyViolation, "Too many sockets open for this session (limit 2)")
		// Another session is not affected.
		e.dial(tokenQuery(e.session(), "")).send("x")
		first.c.Close(websocket.StatusNormalClosure, "")
		storetest.Eventually(t, wait, "the closed socket to leave", func() bool {
			return metric(t, e.ts, "chatbot_web_sockets_open") == "2"
		})
		again := e.dial(tokenQuery(sess, "stream=1"))
		again.send("room again")
		if f := again.next(); f.Type != chat.FrameAck {
			t.Fatalf("socket after one closed: %+v", f.raw)
		}
	})
}

// A client that stops reading is disconnected (1013) instead of growing the server's memory.
func TestSlowReaderDisconnected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SendQueueFrames: 16, SendQueueBytes: 64 << 10}, store.Options{EventsMax: 100})
		sess := e.session()
		// A small receive buffer, so the kernel does not absorb megabytes first.
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conn.(*net.TCPConn).SetReadBuffer(4 << 10)
			}
			return conn, err
		}}}
		conn, _, err := websocket.Dial(e.ctx, wsURL(e.ts, tokenQuery(sess, "stream=1")), &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		fast := e.dial(tokenQuery(sess, ""))
		big := strings.Repeat("z", 4<<10)
		closed := func() bool { return metric(t, e.ts, `chatbot_web_socket_closes_total{code="1013"}`) == "1" }
		for i := 0; !closed(); i++ {
			if i == 20000 {
				t.Fatal("the slow socket was never closed")
			}
			for range 50 {
				if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: big}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The socket that reads is still served.
		if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameMessage, Msg: "still here"}); err != nil {
			t.Fatal(err)
		}
		if f := fast.nextOf(chat.FrameMessage); f.Msg != "still here" {
			t.Fatalf("reading socket got %+v", f.raw)
		}
		storetest.Eventually(t, wait, "the slow socket to be gone", func() bool {
			return metric(t, e.ts, "chatbot_web_sockets_open") == "1"
		})
	})
}

// acksAndError reads n acks and one error frame, in any order.
func (c *client) acksAndError(n int) (int, frame) {
	c.t.Helper()
	acks := 0
	var errFrame frame
	for range n + 1 {
		switch f := c.next(); f.Type {
		case chat.FrameAck:
			acks++
		case chat.FrameError:
			errFrame = f
		default:
			c.t.Fatalf("unexpected frame %+v", f.raw)
		}
	}
	return acks, errFrame
}
