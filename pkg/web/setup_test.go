package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// wait bounds every wait of these tests; nothing sleeps for a fixed time.
const wait = 15 * time.Second

// env is one web server, served on a loopback port, on its own key prefix of a real Redis.
type env struct {
	t   *testing.T
	b   storetest.Backend
	st  *store.Store
	ts  *httptest.Server // only its URL: the server is web.Server's own
	ctx context.Context
}

// setup starts a server against backend b; opt's Store, Logger and SubscriberName are filled in.
func setup(t *testing.T, b storetest.Backend, opt web.Options, sopt store.Options) *env {
	t.Helper()
	st := storetest.Open(t, b, sopt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, b: b, st: st, ctx: ctx}
	e.ts = e.serve(st, opt)
	return e
}

// serve starts one more server on st until the test ends (serveOn).
func (e *env) serve(st *store.Store, opt web.Options) *httptest.Server {
	e.t.Helper()
	if opt.SubscriberName == "" {
		opt.SubscriberName = "chatbot-sub-" + uuid.NewString()[:8]
	}
	if opt.ShutdownTimeout == 0 {
		opt.ShutdownTimeout = time.Second // a short drain: the test's sockets are closed by then
	}
	base, _ := serveOn(e.t, st, opt)
	return &httptest.Server{URL: base}
}

// second starts another server on the same Redis and key prefix, with its own connections:
// a second `serve` host.
func (e *env) second(opt web.Options) *httptest.Server {
	e.t.Helper()
	st := storetest.Open(e.t, e.b, store.Options{Prefix: e.st.Keys().Prefix()})
	return e.serve(st, opt)
}

func (e *env) session() chat.Session {
	e.t.Helper()
	sess, err := e.st.CreateSession(e.ctx, "tester")
	if err != nil {
		e.t.Fatal(err)
	}
	return sess
}

// client is a real WebSocket client.
type client struct {
	t *testing.T
	c *websocket.Conn
}

func wsURL(ts *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/chat?" + query
}

// dial opens /chat on ts with the query; the handshake must succeed.
func dial(t *testing.T, ts *httptest.Server, query string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(ts, query), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c}
}

func (e *env) dial(query string) *client { return dial(e.t, e.ts, query) }

// tokenQuery is the query of a socket of the session, plus extra.
func tokenQuery(sess chat.Session, extra string) string {
	q := "token=" + url.QueryEscape(sess.Token)
	if extra != "" {
		q += "&" + extra
	}
	return q
}

// frame is a server frame: the decoded event and the raw JSON.
type frame struct {
	chat.Event
	raw map[string]any
}

// next reads the next frame; it fails the test on anything else.
func (c *client) next() frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, data, err := c.c.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("got a %v frame, want text", typ)
	}
	var f frame
	if err := json.Unmarshal(data, &f.Event); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	json.Unmarshal(data, &f.raw)
	return f
}

// nextOf reads frames until one of type typ.
func (c *client) nextOf(typ string) frame {
	c.t.Helper()
	for {
		if f := c.next(); f.Type == typ {
			return f
		}
	}
}

func (c *client) send(text string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) sendJSON(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.send(string(b))
}

// closed reads until the server closes the socket and returns the close code and reason.
func (c *client) closed() (websocket.StatusCode, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := c.c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		if ctx.Err() != nil {
			c.t.Fatalf("socket still open after %s", wait)
		}
		return -1, err.Error()
	}
}

func (c *client) expectClose(code websocket.StatusCode, reason string) {
	c.t.Helper()
	got, why := c.closed()
	if got != code || (reason != "" && why != reason) {
		c.t.Fatalf("closed with %d %q, want %d %q", got, why, code, reason)
	}
}

// worker plays `chatbot work` for one session: it answers every pending message in order with
// "echo: <msg>" (a regeneration with "echo again: <msg>"), streaming the reply as two deltas, through the same store steps the real
// worker uses (BeginTurn, EmitDelta, FinishTurn). It runs until the test ends.
type worker struct {
	st    *store.Store
	token string
	// onTurn, when set, runs before a turn is answered (tests hold a turn back with it).
	onTurn func(store.Turn)

	mu      sync.Mutex
	replies []chat.Message
}

func (e *env) worker(token string, onTurn func(store.Turn)) *worker {
	w := &worker{st: e.st, token: token, onTurn: onTurn}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	return w
}

func (w *worker) run(ctx context.Context) {
	holder := "test-worker-" + uuid.NewString()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for ctx.Err() == nil {
		turn, state, err := w.st.BeginTurn(ctx, w.token, holder, 50, 10*time.Second)
		if err != nil || state != store.TurnReady {
			select {
			case <-ctx.Done():
			case <-poll.C:
			}
			continue
		}
		w.answer(ctx, turn)
	}
}

func (w *worker) answer(ctx context.Context, turn store.Turn) {
	if w.onTurn != nil {
		w.onTurn(turn)
	}
	text := "echo: " + turn.Message.Msg
	if turn.Regen != nil {
		text = "echo again: " + turn.Message.Msg
	}
	reply := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID}
	if turn.Stop {
		reply.Msg, reply.Stopped = "", true
	} else {
		half := len(text) / 2
		for _, piece := range []string{text[:half], text[half:]} {
			if _, err := w.st.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: piece}); err != nil {
				return
			}
		}
		reply.Msg = text
	}
	ev := chat.MessageEvent(reply)
	if turn.Regen != nil {
		ev.Replaces = turn.Regen.Replaces
	}
	if _, err := w.st.FinishTurn(ctx, turn, &reply, ev); err != nil {
		return
	}
	w.mu.Lock()
	w.replies = append(w.replies, reply)
	w.mu.Unlock()
}

// httpDo sends a request to ts and returns the status and body.
func httpDo(t *testing.T, ts *httptest.Server, method, path, contentType, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	cl := ts.Client()
	if cl == nil {
		cl = http.DefaultClient
	}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// metric reads one series of /metrics ("" when absent).
func metric(t *testing.T, ts *httptest.Server, series string) string {
	t.Helper()
	_, body, _ := httpDo(t, ts, "GET", "/metrics", "", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func newToken() string { return uuid.NewString() }
