package llm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/llm"
	"chatbot/pkg/llm/llmtest"
)

func openaiModel(t *testing.T, srv *llmtest.Server, key string) llm.Model {
	t.Helper()
	m, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL, APIKey: key, Model: "fake-model", MaxTokens: 64, Temperature: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func collect(t *testing.T, m llm.Model, ctx context.Context, msgs []llm.Message) (string, []string, error) {
	t.Helper()
	var deltas []string
	got, err := m.Stream(ctx, msgs, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	return got, deltas, err
}

func TestOpenAIStreamsTheReply(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
		llmtest.Stream(w, "Hel", "lo", " wörld")
	})
	got, deltas, err := collect(t, openaiModel(t, srv, "sk-test"), context.Background(), conversation("hi"))
	if err != nil || got != "Hello wörld" || !slices.Equal(deltas, []string{"Hel", "lo", " wörld"}) {
		t.Fatalf("%q %q %v", got, deltas, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Auth != "Bearer sk-test" || r.Model != "fake-model" || !r.Stream || r.MaxTokens == nil || *r.MaxTokens != 64 ||
		r.Temperature == nil || *r.Temperature != 0.2 {
		t.Fatalf("request %+v", r)
	}
	want := []llmtest.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "earlier"}, {Role: "assistant", Content: "echo: earlier"}, {Role: "user", Content: "hi"}}
	if !slices.Equal(r.Messages, want) {
		t.Fatalf("messages %+v", r.Messages)
	}
}

// Without llm.api_key no Authorization is sent (Ollama, llama.cpp), and OPENAI_API_KEY from
// the environment never goes to the configured endpoint.
func TestOpenAIWithoutKeySendsNoAuthorization(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	srv := llmtest.New(t, nil)
	got, _, err := collect(t, openaiModel(t, srv, ""), context.Background(), conversation("hi"))
	if err != nil || got != "echo: hi" {
		t.Fatalf("%q %v", got, err)
	}
	if a := srv.Requests()[0].Auth; a != "" {
		t.Fatalf("Authorization %q sent without a configured key", a)
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		handler   llmtest.Handler
		partial   string
		retryable bool
		describe  string
		is        error
	}{
		{"server error", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Fail(w, http.StatusServiceUnavailable, "overloaded")
		}, "", true, "the model service failed (503 Service Unavailable)", nil},
		{"rate limited", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Fail(w, http.StatusTooManyRequests, "slow down")
		}, "", true, "the model service is busy (429 Too Many Requests)", nil},
		{"bad key", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Fail(w, http.StatusUnauthorized, "Incorrect API key provided: sk-te***")
		}, "", false, "the model service refused the request (401 Unauthorized)", nil},
		{"unknown model", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Fail(w, http.StatusNotFound, "model not found")
		}, "", false, "the model service rejected the request (404 Not Found)", nil},
		{"error event mid-stream", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Start(w)
			llmtest.Text(w, "par")
			llmtest.StreamError(w, "internal failure")
		}, "par", true, "the model service reported an error while answering", nil},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
			llmtest.Start(w)
			llmtest.Text(w, "cut ")
		}, "cut ", true, "the model's reply was cut off", llm.ErrIncomplete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := llmtest.New(t, c.handler)
			got, _, err := collect(t, openaiModel(t, srv, "sk-test"), context.Background(), conversation("hi"))
			if err == nil || got != c.partial {
				t.Fatalf("%q %v", got, err)
			}
			if llm.Retryable(err) != c.retryable {
				t.Fatalf("Retryable(%v) = %v", err, !c.retryable)
			}
			if d := llm.Describe(err); d != c.describe {
				t.Fatalf("Describe = %q, want %q", d, c.describe)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("%v is not %v", err, c.is)
			}
			if strings.Contains(err.Error(), "sk-test") || strings.Contains(llm.Describe(err), "sk-te") {
				t.Fatalf("the key leaks into %q", err)
			}
		})
	}
}

func TestRetryRetriesModelErrorsWithBackoff(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, req llmtest.Request, n int) {
		if n < 3 {
			llmtest.Fail(w, http.StatusBadGateway, "upstream")
			return
		}
		llmtest.Echo(w, r, req, n)
	})
	m := openaiModel(t, srv, "k")
	retry := llm.Retry{MaxRetries: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}
	var got string
	attempts, err := retry.Do(context.Background(), func(ctx context.Context, _ int) error {
		var err error
		got, _, err = collect(t, m, ctx, conversation("again"))
		return err
	})
	if err != nil || attempts != 3 || got != "echo: again" || len(srv.Requests()) != 3 {
		t.Fatalf("attempts %d, %q, %v", attempts, got, err)
	}
}

func TestRetryGivesUp(t *testing.T) {
	t.Parallel()
	fail := func(status int) llmtest.Handler {
		return func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) { llmtest.Fail(w, status, "no") }
	}
	retry := llm.Retry{MaxRetries: 2, Base: time.Millisecond}
	for _, c := range []struct {
		status, attempts int
	}{{http.StatusInternalServerError, 3}, {http.StatusBadRequest, 1}} {
		srv := llmtest.New(t, fail(c.status))
		m := openaiModel(t, srv, "k")
		attempts, err := retry.Do(context.Background(), func(ctx context.Context, _ int) error {
			_, _, err := collect(t, m, ctx, conversation("x"))
			return err
		})
		if err == nil || attempts != c.attempts || len(srv.Requests()) != c.attempts {
			t.Fatalf("status %d: %d attempts, %d requests, %v", c.status, attempts, len(srv.Requests()), err)
		}
	}
}

func TestRetryTimesOutEachAttempt(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, _ llmtest.Request, _ int) {
		llmtest.Start(w)
		llmtest.Text(w, "slow")
		<-r.Context().Done() // stalls until the client gives up
	})
	m := openaiModel(t, srv, "k")
	retry := llm.Retry{MaxRetries: 1, Timeout: 100 * time.Millisecond, Base: time.Millisecond}
	attempts, err := retry.Do(context.Background(), func(ctx context.Context, _ int) error {
		_, _, err := collect(t, m, ctx, conversation("x"))
		return err
	})
	if !errors.Is(err, llm.ErrTimeout) || attempts != 2 || llm.Describe(err) != "the model took too long to answer" {
		t.Fatalf("%d attempts, %v", attempts, err)
	}
}

// Once the caller's context ends (stop, lease lost, shutdown) nothing is retried.
func TestRetryStopsWithItsContext(t *testing.T) {
	t.Parallel()
	stopped := errors.New("stopped by the user")
	ctx, cancel := context.WithCancelCause(context.Background())
	retry := llm.Retry{MaxRetries: 5, Base: time.Millisecond}
	attempts, err := retry.Do(ctx, func(ctx context.Context, _ int) error {
		cancel(stopped)
		<-ctx.Done()
		return context.Cause(ctx)
	})
	if attempts != 1 || !errors.Is(err, stopped) {
		t.Fatalf("%d attempts, %v", attempts, err)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	r := llm.Retry{Base: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		if got := r.Backoff(n); got > want || got < want*4/5 {
			t.Fatalf("Backoff(%d) = %s, want %s less up to a fifth", n, got, want)
		}
	}
}

// The call asks for usage (stream_options.include_usage) and reports what the server sends;
// a server that sends none leaves it zero. The user goes as the `user` field when given.
func TestOpenAIUsageAndUser(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.EchoUsage)
	var u llm.Usage
	ctx := llm.WithUser(llm.WithUsage(context.Background(), &u), "alice")
	got, _, err := collect(t, openaiModel(t, srv, ""), ctx, conversation("hi there"))
	if err != nil || got != "echo: hi there" {
		t.Fatalf("%q %v", got, err)
	}
	// system "be brief" 2, "earlier" 1, "echo: earlier" 2, "hi there" 2; reply 3.
	if u != (llm.Usage{InputTokens: 7, OutputTokens: 3}) {
		t.Errorf("usage %+v", u)
	}
	r := srv.Requests()[0]
	if !r.IncludeUsage || r.User != "alice" {
		t.Errorf("request include_usage %v user %q", r.IncludeUsage, r.User)
	}

	none := llmtest.New(t, nil)
	u = llm.Usage{}
	if _, _, err := collect(t, openaiModel(t, none, ""), llm.WithUsage(context.Background(), &u), conversation("hi")); err != nil {
		t.Fatal(err)
	}
	if u != (llm.Usage{}) || none.Requests()[0].User != "" {
		t.Errorf("usage %+v without a usage chunk; user %q without WithUser", u, none.Requests()[0].User)
	}
}

func TestEstimateAndUserID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{"": 0, "a b c d e": 5, "abcdefgh": 2, "hello there, world": 5} {
		if got := llm.EstimateTokens(s); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", s, got, want)
		}
	}
	if llm.UserID("alice", "tok") != "alice" {
		t.Error("jwt: the sub")
	}
	id := llm.UserID("", "secret-token")
	if strings.Contains(id, "secret-token") || id != llm.UserID("", "secret-token") || id == llm.UserID("", "other") {
		t.Errorf("mode none: %q must be a stable hash of the token, not the token", id)
	}
}

// BenchmarkOpenAIStream is the worker's CPU for a streamed reply of 100 chunks (one word each,
// as a model streams tokens) from a loopback server: the request, reading the events and
// decoding each chunk. Reported per chunk.
func BenchmarkOpenAIStream(b *testing.B) {
	words := make([]string, 100)
	for i := range words {
		words[i] = "word "
	}
	srv := llmtest.New(b, func(w http.ResponseWriter, _ *http.Request, _ llmtest.Request, _ int) {
		llmtest.Stream(w, words...)
	})
	m, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL, APIKey: "sk-bench", Model: "fake-model"})
	if err != nil {
		b.Fatal(err)
	}
	msgs := conversation("hi")
	b.ReportAllocs()
	for b.Loop() {
		got, err := m.Stream(context.Background(), msgs, func(string) error { return nil })
		if err != nil || len(got) != 500 {
			b.Fatalf("%d bytes, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(words)), "ns/chunk")
}

// More calls at once than Go's default transport keeps idle connections per host (2): the
// calls that follow reuse the connections of those before instead of dialing (over HTTPS, a
// TLS handshake before every reply's first token).
func TestOpenAIReusesConnectionsOfConcurrentCalls(t *testing.T) {
	t.Parallel()
	const calls, rounds = 8, 5
	var (
		mu      sync.Mutex
		arrived = map[int]int{}
		all     = map[int]chan struct{}{}
	)
	together := func(n int) chan struct{} { // closed once the calls of n's round are all in
		round := (n - 1) / calls
		mu.Lock()
		defer mu.Unlock()
		if all[round] == nil {
			all[round] = make(chan struct{})
		}
		if arrived[round]++; arrived[round] == calls {
			close(all[round])
		}
		return all[round]
	}
	srv := llmtest.New(t, func(w http.ResponseWriter, r *http.Request, req llmtest.Request, n int) {
		select {
		case <-together(n):
		case <-r.Context().Done():
			return
		}
		llmtest.Echo(w, r, req, n)
	})
	m, err := llm.New(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL, Model: "fake-model", Calls: calls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, calls)
		for range calls {
			wg.Go(func() {
				if got, err := m.Stream(ctx, conversation("hi"), func(string) error { return nil }); err != nil || got != "echo: hi" {
					errs <- fmt.Errorf("%q %v", got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// A call's connection goes back to the pool just after its reply is read, so a call of the
	// next round may now and then dial before it is back: not 2 rounds' worth. Two idle
	// connections kept per host made it 8 + 4 × 6 = 32.
	if n := srv.Conns(); n > 2*calls {
		t.Fatalf("%d connections for %d rounds of %d calls at once: calls do not reuse them", n, rounds, calls)
	}
}
