package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/admin"
	"chatbot/pkg/chat"
	"chatbot/pkg/llm/llmtest"
)

// The operator's commands against a live system: a serve, a work on a model that fails on
// demand and holds a reply on demand. inspect session shows a reply being generated and who
// generates it; inspect queue the request held by that worker; a reply that failed is listed,
// shown, and replayed (twice: the user is answered once); purge asks for --yes. No output
// holds the session token.
func TestE2EAdminCommands(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	node := startRedis(t, "admin", "--appendonly", "no")
	var (
		mu      sync.Mutex
		failing = true
	)
	hold := make(chan struct{})
	fake := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, got llmtest.Request, n int) {
		last := got.Messages[len(got.Messages)-1].Content
		mu.Lock()
		fail := failing && strings.HasPrefix(last, "FAIL")
		mu.Unlock()
		switch {
		case fail:
			llmtest.Fail(w, http.StatusInternalServerError, "the fake model is down")
		case strings.HasPrefix(last, "HOLD"):
			llmtest.Start(w)
			llmtest.Text(w, "thinking ")
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
			llmtest.Text(w, "done")
			llmtest.Finish(w, "stop")
			llmtest.Done(w)
		default:
			llmtest.Echo(w, r, got, n)
		}
	})
	vars := env{
		"CHATBOT_REDIS_URL":         "redis://" + node.Addr() + "/0",
		"CHATBOT_LLM_PROVIDER":      "openai",
		"CHATBOT_LLM_BASE_URL":      fake.URL,
		"CHATBOT_LLM_API_KEY":       "sk-test",
		"CHATBOT_LLM_MAX_RETRIES":   "0",
		"CHATBOT_STREAM_PARTITIONS": "2",
		"CHATBOT_WORKER_CLAIM_IDLE": "2s",
		"CHATBOT_LOG_FORMAT":        "json",
	}
	serve := startServe(t, "serve", vars)
	startWork(t, "work", vars, 1)
	dir := t.TempDir()
	var outputs []string
	run := func(args ...string) cmdResult {
		t.Helper()
		res := runChatbot(ctx, dir, vars, args...)
		outputs = append(outputs, res.stdout, res.stderr)
		return res
	}
	runJSON := func(v any, args ...string) {
		t.Helper()
		res := run(append(args, "--json")...)
		if res.code != 0 {
			t.Fatalf("chatbot %s: exit %d\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		if err := json.Unmarshal([]byte(res.stdout), v); err != nil {
			t.Fatalf("chatbot %s --json: %v\n%s", strings.Join(args, " "), err, res.stdout)
		}
	}

	token, err := createSession(ctx, serve.URL(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	var errs notes
	conn, err := wsDial(ctx, serve.URL(), url.Values{"token": {token}, "stream": {"1"}}, "", "", &errs)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()

	// A reply being generated: the session says so and names the worker; the queue shows the
	// request held by its consumer.
	if err := conn.command(ctx, chat.Command{Type: chat.CmdMessage, Msg: "HOLD on"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.until(ctx, "the first delta", func(ev chat.Event) bool { return ev.Type == chat.FrameDelta }); err != nil {
		t.Fatal(err)
	}
	var sess admin.SessionView
	runJSON(&sess, "inspect", "session", token)
	if sess.Session != chat.TokenTag(token) || sess.Waiting != 1 || sess.Lease == nil ||
		!strings.HasSuffix(sess.Lease.Consumer, "-0") || !strings.HasPrefix(sess.State, "answering message 1") {
		t.Errorf("inspect session while answering: %+v", sess)
	}
	var q admin.QueueView
	runJSON(&q, "inspect", "queue")
	p := q.Partitions[sess.Partition]
	if p.Pending != 1 || len(p.Consumers) != 1 || p.Consumers[0].Pending != 1 || p.Consumers[0].Name != sess.Lease.Consumer {
		t.Errorf("inspect queue while answering: %+v (lease %+v)", p, sess.Lease)
	}
	if text := run("inspect", "queue"); text.code != 0 || !strings.Contains(text.stdout, sess.Lease.Consumer) {
		t.Errorf("inspect queue (table): exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}
	close(hold)
	if _, err := conn.until(ctx, "the reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage }); err != nil {
		t.Fatal(err)
	}

	// A reply that fails: the user is told, and the request is a dead letter.
	if err := conn.command(ctx, chat.Command{Type: chat.CmdMessage, Msg: "FAIL please", ClientID: "c-fail"}); err != nil {
		t.Fatal(err)
	}
	failed, err := conn.until(ctx, "the model_error", func(ev chat.Event) bool { return ev.Type == chat.FrameError })
	if err != nil || failed.Code != chat.CodeModelError {
		t.Fatalf("%+v, %v", failed, err)
	}
	var list admin.DeadListView
	runJSON(&list, "dead", "list")
	if list.Total != 1 || list.DeadLetters[0].Session != chat.TokenTag(token) || list.DeadLetters[0].Message != failed.ReplyTo {
		t.Fatalf("dead list: %+v", list)
	}
	id := list.DeadLetters[0].ID
	var show admin.DeadLetterView
	runJSON(&show, "dead", "show", id)
	if show.ID != id || !strings.Contains(show.Error, "500") || show.Seq != 2 {
		t.Errorf("dead show: %+v", show)
	}
	if text := run("dead", "list"); !strings.Contains(text.stdout, id) {
		t.Errorf("dead list (table):\n%s", text.stdout)
	}

	// The model is back; the operator replays it, twice by mistake: one new message, one reply.
	mu.Lock()
	failing = false
	mu.Unlock()
	var r admin.ReplayResult
	runJSON(&r, "dead", "replay", id, "--keep")
	if r.Action != "resent" || r.Seq != 3 {
		t.Fatalf("dead replay: %+v", r)
	}
	var again admin.ReplayResult
	runJSON(&again, "dead", "replay", id)
	if again.Action != "resent_before" || again.Message != r.Message || !again.Deleted {
		t.Fatalf("second dead replay: %+v", again)
	}
	reply, err := conn.until(ctx, "the replayed reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage })
	if err != nil || reply.ReplyTo != r.Message || reply.Msg != "echo: FAIL please" {
		t.Fatalf("reply %+v, %v", reply, err)
	}
	// Answered once: the next message's reply is the next message frame, and the history holds
	// one reply to the replayed message.
	if err := conn.command(ctx, chat.Command{Type: chat.CmdMessage, Msg: "after"}); err != nil {
		t.Fatal(err)
	}
	next, err := conn.until(ctx, "the next reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage })
	if err != nil || next.Msg != "echo: after" {
		t.Fatalf("the message after the replay got %+v, %v", next, err)
	}
	hist, err := history(ctx, serve.URL(), token)
	if err != nil {
		t.Fatal(err)
	}
	replies := 0
	for _, m := range hist {
		if m.ReplyTo == r.Message {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("%d replies to the replayed message in the history, want 1", replies)
	}
	if res := run("dead", "replay", id); res.code == 0 || !strings.Contains(res.stderr, "no such dead letter") {
		t.Errorf("replay of a replayed dead letter: exit %d %s", res.code, res.stderr)
	}

	// purge asks for --yes.
	mu.Lock()
	failing = true
	mu.Unlock()
	if err := conn.command(ctx, chat.Command{Type: chat.CmdMessage, Msg: "FAIL again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.until(ctx, "the second model_error", func(ev chat.Event) bool { return ev.Type == chat.FrameError }); err != nil {
		t.Fatal(err)
	}
	dryRun := run("dead", "purge")
	if dryRun.code == 0 || !strings.Contains(dryRun.stderr, "would delete 1 dead letters") {
		t.Errorf("purge without --yes: exit %d %s", dryRun.code, dryRun.stderr)
	}
	var purged admin.PurgePlan
	runJSON(&purged, "dead", "purge", "--yes")
	if purged.Deleted != 1 {
		t.Errorf("purge --yes: %+v", purged)
	}
	runJSON(&q, "inspect", "queue")
	if q.DeadLetters != 0 {
		t.Errorf("%d dead letters after purge", q.DeadLetters)
	}
	if res := run("inspect", "session", token); res.code != 0 || !strings.Contains(res.stdout, "idle") {
		t.Errorf("inspect session at the end: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for _, out := range outputs {
		if strings.Contains(out, token) {
			t.Errorf("a command printed the session token:\n%s", out)
		}
	}
}
