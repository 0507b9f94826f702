package cmd

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/bench"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
	"chatbot/pkg/worker"
)

// chatbot bench against the real web tier and a real worker on the test Redis: every message
// it sends is answered and matched, with the ack of each (stream), and no error.
func TestBenchAgainstServeAndWork(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { benchServeAndWork(t, b) })
	}
}

func benchServeAndWork(t *testing.T, b storetest.Backend) {
	t.Helper()
	st := storetest.Open(t, b, store.Options{Partitions: 2})
	srv, err := web.New(web.Options{Store: st, MessagesPerMinute: 100000, MaxPending: 64, SessionsPerMinutePerIP: 1000,
		MessagesPerMinutePerIP: -1, SocketsPerIP: -1, FramesPerSecond: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wk, err := worker.New(worker.Options{Store: st, Model: llm.Echo{}, Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { srv.Serve(ctx, ln) })
	running.Go(func() { wk.Run(ctx) })
	t.Cleanup(func() {
		stop()
		running.Wait()
	})

	out, err := runCLI(t, "bench", "--url", "http://"+ln.Addr().String(), "--sessions", "4", "--rate", "100", "--stream",
		"--duration", "500ms", "--warmup=-1s", "--drain", "10s", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if res.Sent < 40 || res.Turns != res.Sent || len(res.Errors) != 0 {
		t.Fatalf("sent %d, turns %d, errors %v: want every message answered", res.Sent, res.Turns, res.Errors)
	}
	if res.Ack == nil || res.Ack.N != int(res.Sent) || res.Latency.N != int(res.Turns) {
		t.Fatalf("ack %+v, reply latency %+v: want one sample per message", res.Ack, res.Latency)
	}
}

// A run against nothing, or a remote host without --allow-remote, fails with a readable error.
func TestBenchRefuses(t *testing.T) {
	_, err := runCLI(t, "bench", "--url", "http://192.0.2.1:8080")
	if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Fatalf("remote URL: %v", err)
	}
	_, err = runCLI(t, "bench", "--url", "http://127.0.0.1:1", "--sessions", "1")
	if err == nil || !strings.Contains(err.Error(), "no session could be created") {
		t.Fatalf("nothing listening: %v", err)
	}
}
