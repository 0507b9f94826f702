package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
)

// TestMemoryGuard: with Redis above limits.redis_memory_high of its maxmemory (a node of its
// own with a small maxmemory, filled by a key outside the project), a new session gets 503
// with a JSON detail and a new message the error frame unavailable, and is not kept, while a
// reply in flight finishes; once the key is deleted, sessions and chat work again by themselves.
func TestMemoryGuard(t *testing.T) {
	t.Parallel()
	node := redistest.NewNode(t, redistest.Options{Name: "memguard", Args: []string{"--maxmemory", "64mb"}})
	e := setup(t, storetest.Backend{Name: "single", URL: node.URL()},
		web.Options{RedisMemoryHigh: 0.5, MemoryCheckInterval: 10 * time.Millisecond}, store.Options{})
	sess := e.session()
	held, release := make(chan struct{}), make(chan struct{})
	e.worker(sess.Token, func(turn store.Turn) {
		if turn.Message.Msg == "in flight" {
			close(held)
			<-release
		}
	})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before the worker's own cleanup waits for it
	c := e.dial(tokenQuery(sess, "stream=1"))
	c.sendJSON(map[string]string{"type": "message", "msg": "in flight", "client_id": "c1"})
	select {
	case <-held:
	case <-time.After(wait):
		t.Fatal("the worker never began the first turn")
	}
	if status, body, _ := httpDo(t, e.ts, "POST", "/token?name=before", "", ""); status != http.StatusOK {
		t.Fatalf("POST /token below the guard: %d %s", status, body)
	}

	// 40 MB of 64: over half of maxmemory, under maxmemory (writes still succeed).
	ctx := context.Background()
	if _, err := node.Do(ctx, "SETRANGE", "filler", strconv.Itoa(40<<20), "x"); err != nil {
		t.Fatal(err)
	}
	var status int
	var body string
	var header http.Header
	storetest.Eventually(t, wait, "POST /token refused while Redis is full", func() bool {
		status, body, header = httpDo(t, e.ts, "POST", "/token?name=full", "", "")
		return status != http.StatusOK
	})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"detail":"The service is full, try again later"`) ||
		header.Get("Retry-After") == "" || !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		t.Fatalf("POST /token while full: %d %q %v, want 503 with a JSON detail and Retry-After", status, body, header)
	}
	if ratio, _ := strconv.ParseFloat(metric(t, e.ts, "chatbot_web_redis_memory_ratio"), 64); ratio < 0.5 || ratio >= 1 {
		t.Errorf("chatbot_web_redis_memory_ratio = %v, want the filled node's share (0.5 to 1)", ratio)
	}

	c.sendJSON(map[string]string{"type": "message", "msg": "refused", "client_id": "c2"})
	f := c.nextOf(chat.FrameError)
	if f.Code != chat.CodeUnavailable || f.Msg != "The service is full, try again later" || f.ClientID != "c2" {
		t.Fatalf("message while full: %+v, want unavailable \"The service is full, try again later\" for c2", f.raw)
	}
	let()
	if f := c.nextOf(chat.FrameMessage); f.Msg != "echo: in flight" {
		t.Fatalf("reply in flight: %+v", f.raw)
	}
	got, err := e.st.GetSession(ctx, sess.Token, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got.Messages {
		if m.Msg == "refused" {
			t.Fatalf("the refused message was kept: %+v", got.Messages)
		}
	}
	for kind, want := range map[string]int{"session": 1, "message": 1} {
		if n, _ := strconv.Atoi(metric(t, e.ts, `chatbot_web_memory_refused_total{kind="`+kind+`"}`)); n < want {
			t.Errorf("chatbot_web_memory_refused_total{kind=%q} = %d, want at least %d", kind, n, want)
		}
	}

	if _, err := node.Do(ctx, "DEL", "filler"); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, wait, "POST /token accepted once memory is freed", func() bool {
		status, _, _ = httpDo(t, e.ts, "POST", "/token?name=after", "", "")
		return status == http.StatusOK
	})
	c.sendJSON(map[string]string{"type": "message", "msg": "after", "client_id": "c3"})
	if f := c.nextOf(chat.FrameMessage); f.Msg != "echo: after" {
		t.Fatalf("reply after memory was freed: %+v", f.raw)
	}
}

// TestMemoryGuardWithoutMaxmemory: against a Redis without maxmemory the guard is off, says
// so in one log line, and refuses nothing.
func TestMemoryGuardWithoutMaxmemory(t *testing.T) {
	t.Parallel()
	node := redistest.NewNode(t, redistest.Options{Name: "nomax"})
	var logs logBuffer
	e := setup(t, storetest.Backend{Name: "single", URL: node.URL()}, web.Options{
		RedisMemoryHigh: 0.01, MemoryCheckInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}, store.Options{})
	const line = "Redis has no maxmemory"
	storetest.Eventually(t, wait, "the log line saying the guard is off", func() bool {
		return strings.Contains(logs.String(), line)
	})
	if status, body, _ := httpDo(t, e.ts, "POST", "/token?name=x", "", ""); status != http.StatusOK {
		t.Fatalf("POST /token: %d %s", status, body)
	}
	if n := strings.Count(logs.String(), line); n != 1 {
		t.Fatalf("%d log lines say the guard is off, want 1:\n%s", n, logs.String())
	}
	if ratio := metric(t, e.ts, "chatbot_web_redis_memory_ratio"); ratio != "0" {
		t.Errorf("chatbot_web_redis_memory_ratio = %s without maxmemory, want 0", ratio)
	}
}
