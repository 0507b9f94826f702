package cmd

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/devredis"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// `chatbot work` answers messages with the configured consumers, serves its probes and metrics,
// and exits 0 on the signal. It runs on an embedded Redis of its own: a worker on the shared
// test Redis would take other tests' requests (the default key prefix).
func TestWorkAnswersServesMetricsAndStops(t *testing.T) {
	t.Chdir(t.TempDir())
	srv, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, srv.StoreOptions(store.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	addr := redistest.FreeAddr(t)
	root := NewRootCommand()
	errOut := &lockedBuffer{}
	root.SetOut(io.Discard)
	root.SetErr(errOut)
	root.SetArgs([]string{"work", "--redis.url", srv.URL(), "--replicas", "2", "--concurrency", "3",
		"--worker.metrics_addr", addr, "--llm.echo_delay", "50ms", "--log.format", "text"})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()

	sess, err := st.CreateSession(ctx, "cli")
	if err != nil {
		t.Fatal(err)
	}
	q := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: "hi there", Timestamp: time.Now().UTC()}
	if _, err := st.Send(ctx, sess.Token, q, store.SendLimits{MaxPending: 16, MessagesPerMinute: 60}); err != nil {
		t.Fatal(err)
	}
	var h []chat.Message
	storetest.Eventually(t, 20*time.Second, "the reply", func() bool {
		h, _ = st.History(ctx, sess.Token)
		return len(h) == 2
	})
	if h[1].Msg != "echo: hi there" || h[1].ReplyTo != q.ID {
		t.Fatalf("history %+v", h)
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	storetest.Eventually(t, 10*time.Second, "the request counted in /metrics", func() bool {
		_, body := get(t, "http://"+addr+"/metrics")
		return strings.Contains(body, "chatbot_worker_requests_processed_total 1\n") &&
			strings.Contains(body, "chatbot_worker_group_pending") && strings.Contains(body, "go_goroutines")
	})
	if !strings.Contains(errOut.String(), "consumers=2 ") || !strings.Contains(errOut.String(), "concurrency=3 ") {
		t.Fatalf("log:\n%s", errOut)
	}
	p := store.Partition(sess.Token, st.Options().Partitions)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("work exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("work did not stop")
	}
	if !strings.Contains(errOut.String(), "worker stopped") {
		t.Fatalf("log:\n%s", errOut)
	}
	// Stopped with nothing held, it left the group.
	cons, _ := st.Client().Do(ctx, st.Client().B().XinfoConsumers().Key(st.Keys().Requests(p)).Group(store.Group).Build()).ToArray()
	if len(cons) != 0 {
		t.Fatalf("%d consumers left in the group after a clean stop", len(cons))
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 0 {
		t.Fatalf("/healthz still answers %d after the stop", code)
	}
}

func TestWorkFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--replicas", "0"}, "worker.replicas: must be greater than 0"},
		{[]string{"--concurrency", "-1"}, "worker.concurrency: must be greater than 0"},
		{[]string{"--replicas", "2", "--worker.replicas", "3"}, "--replicas 2 and --worker.replicas 3 disagree"},
		{[]string{"--worker.metrics_addr", "nonsense"}, "worker.metrics_addr: want host:port"},
		{[]string{"--llm.provider", "gpt"}, "llm.provider"},
		{[]string{"--worker.claim_idle", "500ms"}, "worker.claim_idle: must be at least 1s"},
		{[]string{"--worker.delta_interval", "-1ms"}, "worker.delta_interval: want 0 (no coalescing) to 10s"},
	}
	for _, c := range cases {
		args := append([]string{"work", "--redis.url", "redis://127.0.0.1:1/0"}, c.args...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
	// The same value both ways is fine (and then Redis is unreachable).
	if _, err := runCLI(t, "work", "--redis.url", "redis://127.0.0.1:1/0", "--replicas", "2", "--worker.replicas", "2", "--redis.connect_timeout", "200ms"); err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("err %v, want a Redis connection error", err)
	}
}

// The short flags rank as flags: above the environment.
func TestWorkShortFlagsOverrideEnvironment(t *testing.T) {
	t.Setenv("CHATBOT_WORKER_REPLICAS", "5")
	root := NewRootCommand()
	root.SetArgs([]string{"work", "--replicas", "2"})
	cmd, _, err := root.Find([]string{"work"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags([]string{"--replicas", "2"}); err != nil {
		t.Fatal(err)
	}
	if err := applyWorkAliases(cmd); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	cfg, err := loadConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Worker.Replicas != 2 || cfg.Worker.Concurrency != 64 {
		t.Fatalf("replicas %d concurrency %d", cfg.Worker.Replicas, cfg.Worker.Concurrency)
	}
	opt := workerOptions(cfg)
	if opt.Replicas != 2 || opt.ClaimIdle != 15*time.Second || opt.History != cfg.LLM.History || opt.Retry.MaxRetries != 3 || opt.Retry.Timeout != time.Minute {
		t.Fatalf("worker options %+v", opt)
	}
}
