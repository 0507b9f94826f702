package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// A client that never answers pings is dropped within server.ping_interval +
// server.pong_timeout; one that answers stays.
func TestSilentClientDropped(t *testing.T) {
	t.Parallel()
	const ping, pong = 200 * time.Millisecond, 300 * time.Millisecond
	e := setup(t, storetest.Single(t), web.Options{PingInterval: ping, PongTimeout: pong}, store.Options{})
	sess := e.session()

	var pings atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	live, _, err := websocket.Dial(ctx, wsURL(e.ts, tokenQuery(sess, "")), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer live.CloseNow()
	liveCtx := live.CloseRead(ctx) // reads, so it answers pings

	silent := rawDial(t, e.ts, tokenQuery(sess, ""), "")
	start := time.Now()
	end := <-silent.drain(wait)
	if end.timedOut() {
		t.Fatalf("a client that never answers pings is still connected after %s", wait)
	}
	// The first ping goes out after ping, the drop at ping+pong; a second's margin for a
	// loaded machine.
	if took := end.at.Sub(start); took > ping+pong+time.Second {
		t.Errorf("silent client dropped after %s, want within ping+pong %s", took, ping+pong)
	}
	storetest.Eventually(t, wait, "the answering client to get 4 pings", func() bool { return pings.Load() >= 4 })
	if liveCtx.Err() != nil {
		t.Fatal("the client that answers pings was closed")
	}
}

// Flooding frames — control and continuation frames that coder/websocket handles below its
// API included — closes the socket with 1008 within a second.
func TestFramesFloodCut(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{FramesPerSecond: 50, FragmentsPerMessage: 1 << 20}, store.Options{})
	few := e.serve(e.st, web.Options{FramesPerSecond: 50, FragmentsPerMessage: 8})
	sess := e.session()
	many := func(n int, f []byte) []byte { return []byte(strings.Repeat(string(f), n)) }
	for _, tc := range []struct {
		name   string
		ts     *httptest.Server
		first  []byte // sent once
		chunk  []byte // then again and again
		reason string
	}{
		{"empty continuation frames", e.ts, rawFrame(false, opText, []byte("a")), many(500, rawFrame(false, opContinuation, nil)), "Too many frames"},
		{"pings", e.ts, nil, many(500, rawFrame(true, opPing, nil)), "Too many frames"},
		{"pongs", e.ts, nil, many(500, rawFrame(true, opPong, nil)), "Too many frames"},
		{"empty messages", e.ts, nil, many(500, rawFrame(true, opText, nil)), "Too many frames"},
		{"fragments of one message", few, rawFrame(false, opText, []byte("a")), many(9, rawFrame(false, opContinuation, []byte("b"))), "Too many fragments in one message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, tc.ts, tokenQuery(sess, ""), "")
			ended := c.drain(wait)
			start := time.Now()
			if tc.first != nil {
				c.write(tc.first)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go c.flood(ctx, tc.chunk, 3*time.Second)
			end := <-ended
			if end.timedOut() {
				t.Fatalf("socket still open after %s of flood", wait)
			}
			if end.close == nil || end.close.Code != websocket.StatusPolicyViolation || end.close.Reason != tc.reason {
				t.Fatalf("closed with %v (%v), want 1008 %q", end.close, end.err, tc.reason)
			}
			if took := end.closeAt.Sub(start); took > time.Second {
				t.Errorf("flood cut after %s, want within a second", took)
			}
			// The server discards what still comes for half a second, then drops the connection.
			if took := end.at.Sub(start); took > 2*time.Second {
				t.Errorf("connection dropped after %s, want within 2s", took)
			}
		})
	}
	// A client within the limits is not cut: a message in 4 fragments, with a ping between.
	c := rawDial(t, e.ts, tokenQuery(sess, ""), "")
	var msg []byte
	msg = append(msg, rawFrame(false, opText, []byte("he"))...)
	msg = append(msg, rawFrame(true, opPing, []byte("p"))...)
	msg = append(msg, rawFrame(false, opContinuation, []byte("ll"))...)
	msg = append(msg, rawFrame(false, opContinuation, []byte("o "))...)
	msg = append(msg, rawFrame(true, opContinuation, []byte("world"))...)
	if err := c.write(msg); err != nil {
		t.Fatal(err)
	}
	c.c.SetReadDeadline(time.Now().Add(wait))
	if op, payload, err := c.readFrame(); err != nil || op != opPong || string(payload) != "p" {
		t.Fatalf("got %x %q %v, want the pong", op, payload, err)
	}
	storetest.Eventually(t, wait, "the fragmented message to be kept", func() bool {
		got, err := e.st.GetSession(e.ctx, sess.Token, false)
		return err == nil && len(got.Messages) == 1 && got.Messages[0].Msg == "hello world"
	})
}

// Sockets are capped per address and in total, refused before the upgrade (429, 503) while
// the health routes keep answering; a closed socket gives its place back.
func TestSocketCaps(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{SocketsPerIP: 3, MaxSockets: 5}, store.Options{})
	sess := e.session()
	var first []*rawConn
	for range 3 {
		first = append(first, rawDial(t, e.ts, tokenQuery(sess, ""), "127.0.0.1"))
	}
	_, res := rawHandshake(t, e.ts, tokenQuery(sess, ""), "127.0.0.1")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("4th socket from one address: %s (Retry-After %q), want 429", res.Status, res.Header.Get("Retry-After"))
	}
	rawDial(t, e.ts, tokenQuery(sess, ""), "127.0.0.2")
	rawDial(t, e.ts, tokenQuery(sess, ""), "127.0.0.2")
	if _, res := rawHandshake(t, e.ts, tokenQuery(sess, ""), "127.0.0.3"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("6th socket: %s, want 503", res.Status)
	}
	fast := &http.Client{Timeout: time.Second}
	for _, path := range []string{"/test", "/healthz", "/readyz"} {
		res, err := fast.Get(e.ts.URL + path)
		if err != nil {
			t.Fatalf("%s at the cap: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s at the cap: %s", path, res.Status)
		}
	}
	if got := metric(t, e.ts, `chatbot_web_sockets_refused_total{limit="sockets_per_ip"}`); got != "1" {
		t.Errorf("sockets_refused_total{sockets_per_ip} = %q, want 1", got)
	}
	first[0].c.Close()
	storetest.Eventually(t, wait, "the closed socket's place to be free", func() bool {
		c, res := rawHandshake(t, e.ts, tokenQuery(sess, ""), "127.0.0.1")
		c.c.Close()
		return res.StatusCode == http.StatusSwitchingProtocols
	})
}

// A socket whose session expires is closed with 1008, though it never sends.
func TestExpiredSessionClosesSockets(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{}, store.Options{SessionTTL: 2 * time.Second})
	sess := e.session()
	c := e.dial(tokenQuery(sess, ""))
	c.expectClose(websocket.StatusPolicyViolation, "Session not authenticated or expired token")
}

// monitor counts the commands Redis runs that name token, from now on (MONITOR on the
// single-node test Redis).
type monitor struct {
	n    atomic.Int64
	seen chan string // every matching command
}

func watchRedis(t *testing.T, token string) *monitor {
	t.Helper()
	u, err := url.Parse(storetest.Single(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "MONITOR\r\n")
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", line, err)
	}
	m := &monitor{seen: make(chan string, 1024)}
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.Contains(line, token) {
				m.n.Add(1)
				select {
				case m.seen <- line:
				default:
				}
			}
		}
	}()
	return m
}

// sync makes a command of its own that names token and waits until MONITOR shows it, so
// every command before it has been counted; it returns the count before it.
func (m *monitor) sync(t *testing.T, e *env, token string) int64 {
	t.Helper()
	if _, err := e.st.SessionExists(e.ctx, token); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case line := <-m.seen:
			if strings.Contains(line, `"exists"`) || strings.Contains(line, `"EXISTS"`) {
				return m.n.Load() - 1
			}
		case <-timer.C:
			t.Fatal("MONITOR never showed the sync command")
		}
	}
}

// A socket told rate_limited refuses further messages itself until the window ends, and the
// per-address limit is counted in the process: a flood of rate-limited messages makes no
// Redis call.
func TestRateLimitedFloodMakesNoRedisCall(t *testing.T) {
	t.Parallel()
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		e := setup(t, storetest.Single(t), web.Options{MessagesPerMinute: 2}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, ""))
		for _, m := range []string{"one", "two", "three"} {
			c.send(m)
		}
		if f := c.nextOf(chat.FrameError); f.Code != chat.CodeRateLimited {
			t.Fatalf("3rd message: %+v, want rate_limited", f.raw)
		}
		mon := watchRedis(t, sess.Token)
		mon.sync(t, e, sess.Token)
		floodRateLimited(t, c, 50)
		if n := mon.sync(t, e, sess.Token); n != 1 {
			t.Fatalf("50 rate-limited messages made %d Redis calls naming the session, want 0", n-1)
		}
	})
	t.Run("address", func(t *testing.T) {
		t.Parallel()
		e := setup(t, storetest.Single(t), web.Options{MessagesPerMinutePerIP: 3}, store.Options{})
		a, b := e.session(), e.session()
		ca, cb := e.dial(tokenQuery(a, "stream=1")), e.dial(tokenQuery(b, "stream=1"))
		ca.send("one")
		ca.nextOf(chat.FrameAck)
		ca.send("two")
		ca.nextOf(chat.FrameAck)
		cb.send("three")
		cb.nextOf(chat.FrameAck)
		mon := watchRedis(t, b.Token)
		mon.sync(t, e, b.Token)
		cb.send("four")
		f := cb.nextOf(chat.FrameError)
		if f.Code != chat.CodeRateLimited || !strings.Contains(f.Msg, "Too many messages from this address (limit 3 per minute)") {
			t.Fatalf("4th message from the address: %+v, want rate_limited for the address", f.raw)
		}
		floodRateLimited(t, cb, 50)
		if n := mon.sync(t, e, b.Token); n != 1 {
			t.Fatalf("rate-limited messages made %d Redis calls naming the session, want 0", n-1)
		}
	})
}

// floodRateLimited sends n messages and reads their n rate_limited errors.
func floodRateLimited(t *testing.T, c *client, n int) {
	t.Helper()
	for i := range n {
		c.send(fmt.Sprintf("flood %d", i))
	}
	for i := range n {
		if f := c.nextOf(chat.FrameError); f.Code != chat.CodeRateLimited {
			t.Fatalf("flood message %d: %+v, want rate_limited", i, f.raw)
		}
	}
}
