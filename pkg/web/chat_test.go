package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// A client written for the tutorial: POST /token, plain text in, message frames out.
func TestTutorialFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		status, body, _ := httpDo(t, e.ts, "POST", "/token?name=tutorial", "", "")
		if status != http.StatusOK {
			t.Fatalf("token: %d %s", status, body)
		}
		sess := decodeSession(t, body)
		e.worker(sess.Token, nil)
		c := e.dial("token=" + sess.Token)
		c.send("hello bot")
		c.send("second")
		// Without ?stream=1 the first frames are the replies: no ack, no delta.
		for _, want := range []string{"echo: hello bot", "echo: second"} {
			f := c.next()
			if f.Type != chat.FrameMessage || f.Msg != want || f.ID == "" || f.Timestamp == nil || f.Offset == "" || f.Role != chat.RoleBot || f.ReplyTo == "" {
				t.Fatalf("got %+v, want the message frame %q", f.raw, want)
			}
			for _, key := range []string{"id", "msg", "timestamp"} {
				if _, ok := f.raw[key]; !ok {
					t.Fatalf("message frame without %q: %v", key, f.raw)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, f.raw["timestamp"].(string)); err != nil {
				t.Fatalf("timestamp %v: %v", f.raw["timestamp"], err)
			}
		}
		// The user's messages got server-side ids and UTC timestamps.
		got, err := e.st.GetSession(e.ctx, sess.Token, false)
		if err != nil || len(got.Messages) != 4 {
			t.Fatalf("history %+v %v", got, err)
		}
		h := got.Messages[0]
		if h.Role != chat.RoleHuman || h.Msg != "hello bot" || len(h.ID) != 36 || h.Timestamp.Location() != time.UTC || time.Since(h.Timestamp) > time.Minute {
			t.Fatalf("stored user message %+v", h)
		}
	})
}

func TestBearerToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		ctx := e.ctx
		conn, _, err := websocket.Dial(ctx, wsURL(e.ts, ""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + sess.Token}}})
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, c: conn}
		t.Cleanup(func() { conn.CloseNow() })
		c.send("hi")
		if f := c.next(); f.Msg != "echo: hi" {
			t.Fatalf("got %+v", f.raw)
		}
	})
}

func TestStreamFrames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.sendJSON(map[string]string{"type": "message", "msg": "stream me", "client_id": "c-1"})
		ack := c.next()
		if ack.Type != chat.FrameAck || ack.ClientID != "c-1" || len(ack.ID) != 36 || ack.Offset == "" {
			t.Fatalf("first frame %+v, want the ack", ack.raw)
		}
		var text strings.Builder
		last := ack.Offset
		for {
			f := c.next()
			if chat.CompareIDs(f.Offset, last) <= 0 {
				t.Fatalf("offset %s after %s", f.Offset, last)
			}
			last = f.Offset
			if f.Type == chat.FrameDelta {
				if f.ReplyTo != ack.ID {
					t.Fatalf("delta for %s, want %s", f.ReplyTo, ack.ID)
				}
				text.WriteString(f.Text)
				continue
			}
			if f.Type != chat.FrameMessage || f.Msg != "echo: stream me" || f.ReplyTo != ack.ID || text.String() != f.Msg {
				t.Fatalf("final %+v after deltas %q", f.raw, text.String())
			}
			break
		}
	})
}

// Many messages sent at once are answered in order, and the history reads in conversation order.
func TestOrdering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{MaxPending: 50, MessagesPerMinute: 100}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		const n = 20
		for i := range n {
			c.send(fmt.Sprintf("m%02d", i))
		}
		var ids []string
		for range n {
			ids = append(ids, c.nextOf(chat.FrameAck).ID)
		}
		e.worker(sess.Token, nil)
		for i := range n {
			f := c.nextOf(chat.FrameMessage)
			if want := fmt.Sprintf("echo: m%02d", i); f.Msg != want || f.ReplyTo != ids[i] {
				t.Fatalf("reply %d = %q to %s, want %q to %s", i, f.Msg, f.ReplyTo, want, ids[i])
			}
		}
		got, _ := e.st.GetSession(e.ctx, sess.Token, false)
		for i, m := range got.Messages {
			want := fmt.Sprintf("m%02d", i/2)
			if i%2 == 1 {
				want = "echo: " + want
			}
			if m.Msg != want {
				t.Fatalf("history[%d] = %q, want %q", i, m.Msg, want)
			}
		}
	})
}

// A resent client_id queues nothing new: one ack, one reply.
func TestClientIDIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		for range 3 {
			c.sendJSON(map[string]string{"type": "message", "msg": "once", "client_id": "same"})
		}
		c.sendJSON(map[string]string{"type": "message", "msg": "twice", "client_id": "other"})
		first := c.nextOf(chat.FrameAck)
		second := c.nextOf(chat.FrameAck)
		if first.ClientID != "same" || second.ClientID != "other" {
			t.Fatalf("acks %+v then %+v: the resends were queued", first.raw, second.raw)
		}
		e.worker(sess.Token, nil)
		if f := c.nextOf(chat.FrameMessage); f.Msg != "echo: once" {
			t.Fatalf("first reply %q", f.Msg)
		}
		if f := c.nextOf(chat.FrameMessage); f.Msg != "echo: twice" {
			t.Fatalf("second reply %q", f.Msg)
		}
		got, _ := e.st.GetSession(e.ctx, sess.Token, false)
		if len(got.Messages) != 4 {
			t.Fatalf("history has %d messages, want 4", len(got.Messages))
		}
	})
}

func TestStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send("a long story")
		c.nextOf(chat.FrameAck)
		c.sendJSON(map[string]string{"type": "stop"})
		storetest.Eventually(t, wait, "the stop request", func() bool {
			v, _ := e.st.Client().Do(e.ctx, e.st.Client().B().Hget().Key(e.st.Keys().Session(sess.Token)).Field("stop").Build()).ToString()
			return v == "1"
		})
		e.worker(sess.Token, nil)
		f := c.nextOf(chat.FrameMessage)
		if !f.Stopped || f.raw["stopped"] != true {
			t.Fatalf("reply %+v, want stopped", f.raw)
		}
	})
}

// Bad input gets an error frame and the socket stays open.
func TestErrorFrames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		c := e.dial(tokenQuery(sess, ""))
		for _, tc := range []struct{ in, code string }{
			{"", chat.CodeEmptyMessage},
			{"   \n\t", chat.CodeEmptyMessage},
			{`{"type":"message","msg":"  "}`, chat.CodeEmptyMessage},
			{`{"type":"message","msg":`, chat.CodeBadFrame},
			{`{"type":"dance"}`, chat.CodeBadFrame},
			{`{"type":"message","msg":"x","extra":1}`, chat.CodeBadFrame},
			{`{"type":"message","msg":"x","client_id":"` + strings.Repeat("c", 129) + `"}`, chat.CodeBadFrame},
			{"\xff\xfe", chat.CodeBadFrame},
		} {
			c.send(tc.in)
			f := c.next()
			if f.Type != chat.FrameError || f.Code != tc.code || f.Msg == "" {
				t.Fatalf("%q: got %+v, want error %s", tc.in, f.raw, tc.code)
			}
		}
		c.send("still here")
		if f := c.next(); f.Msg != "echo: still here" {
			t.Fatalf("after the errors got %+v", f.raw)
		}
	})
}

func TestBadTokenCloses1008(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		gone := e.session()
		e.st.DeleteSession(e.ctx, gone.Token)
		for _, q := range []string{"", "token=", "token=not-a-token", "token=" + newToken(), "token=" + gone.Token} {
			c := e.dial(q)
			c.expectClose(websocket.StatusPolicyViolation, "Session not authenticated or expired token")
		}
		storetest.Eventually(t, wait, "no socket left open", func() bool { return metric(t, e.ts, "chatbot_web_sockets_open") == "0" })
	})
}

// A session that expires while its socket is open: the next message closes it with 1008.
func TestExpiredSessionCloses1008(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, ""))
		for _, k := range e.st.Keys().SessionKeys(sess.Token) {
			e.st.Client().Do(e.ctx, e.st.Client().B().Del().Key(k).Build())
		}
		c.send("anyone?")
		c.expectClose(websocket.StatusPolicyViolation, "Session not authenticated or expired token")
	})
}

// A client may send its first frame in the same packet as the handshake: it is not lost.
func TestFrameSentWithHandshake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		host := strings.TrimPrefix(e.ts.URL, "http://")
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET /chat?stream=1&token=" + sess.Token + " HTTP/1.1\r\nHost: " + host +
			"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		payload := []byte(`{"type":"message","msg":"early","client_id":"early-1"}`)
		key := []byte{1, 2, 3, 4}
		frame := []byte{0x81, 0x80 | byte(len(payload))}
		frame = append(frame, key...)
		for i, c := range payload {
			frame = append(frame, c^key[i%4])
		}
		if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", res, err)
		}
		head := make([]byte, 2)
		if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x81 {
			t.Fatalf("first frame header %x: %v", head, err)
		}
		n := int(head[1])
		if n == 126 {
			ext := make([]byte, 2)
			io.ReadFull(br, ext)
			n = int(ext[0])<<8 | int(ext[1])
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		var f chat.Event
		if err := json.Unmarshal(body, &f); err != nil || f.Type != chat.FrameAck || f.ClientID != "early-1" {
			t.Fatalf("first frame %s (%v), want the ack of the early message", body, err)
		}
	})
}
