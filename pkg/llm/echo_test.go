package llm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/llm"
)

func conversation(last string) []llm.Message {
	return []llm.Message{
		{Role: llm.RoleSystem, Content: "be brief"},
		{Role: llm.RoleUser, Content: "earlier"},
		{Role: llm.RoleAssistant, Content: "echo: earlier"},
		{Role: llm.RoleUser, Content: last},
	}
}

func TestEchoAnswersTheLastUserMessageWordByWord(t *testing.T) {
	t.Parallel()
	m, err := llm.New(llm.Config{Provider: llm.ProviderEcho})
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	got, err := m.Stream(context.Background(), conversation("hello  big\nworld "), func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil || got != "echo: hello  big\nworld " {
		t.Fatalf("reply %q %v", got, err)
	}
	want := []string{"echo: ", "hello  ", "big\n", "world "}
	if !slices.Equal(deltas, want) {
		t.Fatalf("deltas %q, want %q", deltas, want)
	}
	again, _ := m.Stream(context.Background(), conversation("hello  big\nworld "), func(string) error { return nil })
	if again != got {
		t.Fatal("echo is not deterministic")
	}
}

func TestEchoSpreadsItsWordsOverTheDelay(t *testing.T) {
	t.Parallel()
	delay := 200 * time.Millisecond
	m := llm.Echo{Delay: delay}
	start := time.Now()
	var at []time.Duration
	got, err := m.Stream(context.Background(), conversation("a b c d"), func(string) error {
		at = append(at, time.Since(start))
		return nil
	})
	if err != nil || got != "echo: a b c d" || len(at) != 5 {
		t.Fatalf("%q %v %v", got, err, at)
	}
	// Lower bounds only: the words are not all there at once, and the last comes after the delay.
	if at[0] < delay/5 || at[4] < delay {
		t.Fatalf("words arrived at %v, want them spread over %s", at, delay)
	}
}

func TestEchoStopsWithItsContext(t *testing.T) {
	t.Parallel()
	m := llm.Echo{Delay: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var (
		got string
		err error
	)
	go func() {
		defer close(done)
		got, err = m.Stream(ctx, conversation("x y"), func(string) error { return nil })
	}()
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) || got != "" {
		t.Fatalf("%q %v", got, err)
	}
	// An error from onDelta stops it too, with the text so far.
	stop := errors.New("enough")
	got, err = llm.Echo{}.Stream(context.Background(), conversation("x y z"), func(d string) error {
		if strings.HasPrefix(d, "x") {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || got != "echo: x " {
		t.Fatalf("%q %v", got, err)
	}
}

func TestWordsConcatenateToTheText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", " ", "a", "  lead", "trail  ", "a\tb\n\nc", "ünï cödé  ok"} {
		if got := strings.Join(llm.Words(s), ""); got != s {
			t.Fatalf("Words(%q) joined = %q", s, got)
		}
	}
	if n := len(llm.Words("  one two\tthree ")); n != 3 {
		t.Fatalf("3 words, got %d", n)
	}
}

func FuzzWords(f *testing.F) {
	f.Add("echo: hello world")
	f.Add(" \t\n")
	f.Fuzz(func(t *testing.T, s string) {
		if got := strings.Join(llm.Words(s), ""); got != s {
			t.Fatalf("Words(%q) joined = %q", s, got)
		}
	})
}

func TestNewRefusesAnUnknownProvider(t *testing.T) {
	t.Parallel()
	if _, err := llm.New(llm.Config{Provider: "gpt"}); err == nil || !strings.Contains(err.Error(), "llm.provider") {
		t.Fatalf("err %v", err)
	}
	if _, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: "ftp://x", Model: "m"}); err == nil || !strings.Contains(err.Error(), "llm.base_url") {
		t.Fatalf("err %v", err)
	}
}

func TestEchoUsage(t *testing.T) {
	var u llm.Usage
	ctx := llm.WithUsage(context.Background(), &u)
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: "be brief"}, {Role: llm.RoleUser, Content: "hello there you"}}
	if _, err := (llm.Echo{}).Stream(ctx, msgs, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if u.InputTokens != 5 || u.OutputTokens != 4 {
		t.Errorf("usage %+v, want 5 prompt words and 4 reply words (echo: hello there you)", u)
	}
}
