package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/llm"
)

// TestFakeModel: the provider the worker uses streams the fake model's words, one delta each.
func TestFakeModel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ServeModel(ctx, ModelOptions{Addr: "127.0.0.1:0", Words: 5, Interval: time.Millisecond}, func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/v1"
	case err := <-done:
		t.Fatal(err)
	}
	m, err := llm.New(llm.Config{Provider: "openai", BaseURL: base, APIKey: "k", Model: "bench", MaxTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	text, err := m.Stream(ctx, []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != 5 || len(strings.Fields(text)) != 5 || strings.Join(deltas, "") != text || strings.HasSuffix(text, " ") {
		t.Errorf("text %q in deltas %q, want 5 words one a delta", text, deltas)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeModel ended with %v", err)
	}
	if err := ServeModel(context.Background(), ModelOptions{Addr: "10.1.2.3:9"}, nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a non-loopback address: %v", err)
	}
}

// TestParseInfo: commands are summed over commandstats, INFO's own calls left out.
func TestParseInfo(t *testing.T) {
	t.Parallel()
	info := parseInfo("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5\r\ncmdstat_xadd:calls=7,usec=1\r\n" +
		"cmdstat_info:calls=3,usec=1\r\n# Stats\r\ntotal_net_input_bytes:100\r\ntotal_net_output_bytes:50\r\n# Memory\r\nused_memory:12345\r\n")
	if info.commands != 17 || info.netBytes() != 150 || info.int("used_memory") != 12345 {
		t.Errorf("commands %d, bytes %d, memory %d", info.commands, info.netBytes(), info.int("used_memory"))
	}
}

// TestProcCPUSplitsSys: the kernel's part of a process's CPU is within its whole, and grows
// with system calls (here: writes to /dev/null, each a trip into the kernel).
func TestProcCPUSplitsSys(t *testing.T) {
	all0, sys0, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	for round := 0; ; round++ {
		if round == 1000 {
			t.Fatalf("10 million writes and the kernel's time of the process did not grow from %v", sys0)
		}
		all, sys, err := procCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if sys > all || sys < sys0 || all < all0 {
			t.Fatalf("all %v (from %v), sys %v (from %v): sys must be within all, and neither falls", all, all0, sys, sys0)
		}
		if sys > sys0 {
			return
		}
		for range 10000 {
			f.Write(b)
		}
	}
}
