package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// frames reads n frames and returns "type:offset" of each.
func (c *client) frames(n int) []string {
	c.t.Helper()
	var out []string
	for range n {
		f := c.next()
		out = append(out, f.Type+":"+f.Offset)
	}
	return out
}

func messagesOnly(fs []string) []string {
	var out []string
	for _, f := range fs {
		if strings.HasPrefix(f, chat.FrameMessage+":") || strings.HasPrefix(f, chat.FrameError+":") {
			out = append(out, f)
		}
	}
	return out
}

// Every socket of a session gets every event, in the same order, once.
func TestFanOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		a := e.dial(tokenQuery(sess, "stream=1"))
		p := e.dial(tokenQuery(sess, ""))
		c := e.dial(tokenQuery(sess, "stream=1"))
		a.send("from a")
		p.send("from p")
		c.send("from c")
		const n = 3 * 4
		fa, fc := a.frames(n), c.frames(n)
		if strings.Join(fa, ",") != strings.Join(fc, ",") {
			t.Fatalf("stream sockets differ:\n%v\n%v", fa, fc)
		}
		want := e.eventIDs(sess.Token, "", true)
		for i, f := range fa {
			if !strings.HasSuffix(f, ":"+want[i]) {
				t.Fatalf("frame %d %s, want offset %s", i, f, want[i])
			}
		}
		if fp := p.frames(3); strings.Join(fp, ",") != strings.Join(messagesOnly(fa), ",") {
			t.Fatalf("plain socket got %v, want %v", fp, messagesOnly(fa))
		}
	})
}

// Two serve instances on one Redis deliver every event to the sockets each holds.
func TestTwoServers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SocketsPerSession: 2}, store.Options{})
		other := e.second(web.Options{SocketsPerSession: 2})
		sess := e.session()
		e.worker(sess.Token, nil)
		a1 := e.dial(tokenQuery(sess, "stream=1"))
		a2 := e.dial(tokenQuery(sess, ""))
		b1 := dial(t, other, tokenQuery(sess, "stream=1"))
		b2 := dial(t, other, tokenQuery(sess, ""))
		for i := range 5 {
			if i%2 == 0 {
				a1.send(fmt.Sprintf("m%d", i))
			} else {
				b1.send(fmt.Sprintf("m%d", i))
			}
		}
		fa, fb := a1.frames(20), b1.frames(20)
		if strings.Join(fa, ",") != strings.Join(fb, ",") {
			t.Fatalf("servers delivered differently:\n%v\n%v", fa, fb)
		}
		if got := strings.Join(e.eventIDs(sess.Token, "", true), ","); !strings.Contains(strings.Join(fa, ","), strings.Split(got, ",")[19]) {
			t.Fatalf("frames %v do not end at the stream's last event", fa)
		}
		want := strings.Join(messagesOnly(fa), ",")
		if got := strings.Join(a2.frames(5), ","); got != want {
			t.Fatalf("plain socket on server A: %s, want %s", got, want)
		}
		if got := strings.Join(b2.frames(5), ","); got != want {
			t.Fatalf("plain socket on server B: %s, want %s", got, want)
		}
		// The sockets limit is per serve process: a third socket on A is refused.
		dial(t, e.ts, tokenQuery(sess, "")).expectClose(websocket.StatusPolicyViolation, "Too many sockets open for this session (limit 2)")
	})
}

// DELETE /token closes the session's sockets on every server with 1008.
func TestDeleteClosesSockets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		other := e.second(web.Options{})
		sess := e.session()
		keep := e.session()
		socks := []*client{e.dial(tokenQuery(sess, "")), e.dial(tokenQuery(sess, "stream=1")), dial(t, other, tokenQuery(sess, ""))}
		bystander := e.dial(tokenQuery(keep, "stream=1"))
		if status, _, _ := httpDo(t, e.ts, http.MethodDelete, "/token?token="+sess.Token, "", ""); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		for _, c := range socks {
			c.expectClose(websocket.StatusPolicyViolation, "Session deleted")
		}
		// Another session's socket is untouched.
		bystander.send("still open")
		if f := bystander.next(); f.Type != chat.FrameAck {
			t.Fatalf("bystander got %+v", f.raw)
		}
	})
}
