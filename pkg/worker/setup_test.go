package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/devredis"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/worker"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// env is one test's Redis: the test's own store, and open for more connections with the same
// key prefix (each worker gets its own, like a separate process).
type env struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	open  func() *store.Store
	parts int
	// embedded: miniredis, whose XINFO GROUPS reports the stream length as lag.
	embedded bool

	// The events of the sessions made by session(), as announced: a stored reply's deltas
	// leave the stream, so the tests read them from here.
	sub       *store.Subscriber
	mu        sync.Mutex
	announced map[string][]chat.Notification
}

// each runs f as parallel subtests on the single node and the cluster, with parts request
// partitions.
func each(t *testing.T, parts int, f func(t *testing.T, e *env)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		opt := store.Options{Prefix: storetest.Prefix(t), Partitions: parts}
		f(t, newEnv(t, parts, func() *store.Store { return storetest.Open(t, b, opt) }))
	})
}

// embedded runs f as a parallel subtest on the in-process Redis of chatbot dev (miniredis).
func embedded(t *testing.T, parts int, f func(t *testing.T, e *env)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		srv, err := devredis.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		opt := srv.StoreOptions(store.Options{Partitions: parts})
		e := newEnv(t, parts, func() *store.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := store.Open(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			return s
		})
		e.embedded = true
		f(t, e)
	})
}

func newEnv(t *testing.T, parts int, open func() *store.Store) *env {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, st: open(), open: open, parts: parts, announced: map[string][]chat.Notification{}}
	e.sub = e.st.NewSubscriber(store.SubscriberOptions{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnNotify: func(token string, n chat.Notification) {
			e.mu.Lock()
			e.announced[token] = append(e.announced[token], n)
			e.mu.Unlock()
		},
	})
	subCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.sub.Run(subCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return e
}

var limits = store.SendLimits{MaxPending: 100, MessagesPerMinute: 10000}

func (e *env) session() string {
	e.t.Helper()
	s, err := e.st.CreateSession(e.ctx, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.announced[s.Token] = nil // subscribed: events() waits for its notifications
	e.mu.Unlock()
	select {
	case <-e.sub.Subscribe(s.Token):
	case <-e.ctx.Done():
		e.t.Fatal("subscribing to the session's notifications took over a minute")
	}
	return s.Token
}

// send sends text as a user message through the real send path (script + XADD).
func (e *env) send(token, text string) chat.Message {
	e.t.Helper()
	m := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: text, Timestamp: time.Now().UTC()}
	if _, err := e.st.Send(e.ctx, token, m, limits); err != nil {
		e.t.Fatalf("send %q: %v", text, err)
	}
	return m
}

func (e *env) history(token string) []chat.Message {
	e.t.Helper()
	h, err := e.st.History(e.ctx, token)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// waitHistory waits until the session's history holds n messages and returns it.
func (e *env) waitHistory(token string, n int, within time.Duration) []chat.Message {
	e.t.Helper()
	var h []chat.Message
	storetest.Eventually(e.t, within, "a history of "+strconv.Itoa(n)+" messages", func() bool {
		h = e.history(token)
		return len(h) >= n
	})
	if len(h) != n {
		e.t.Fatalf("history has %d messages, want %d: %s", len(h), n, texts(h))
	}
	return h
}

// events is every event of the session, decoded, oldest first: those kept in its stream and,
// for a session made by session(), those announced and deleted since (a stored reply's
// deltas).
func (e *env) events(token string) []chat.Event {
	e.t.Helper()
	entries, err := e.st.ReadEvents(e.ctx, token, "", 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	frames := map[string][]byte{}
	for _, en := range entries {
		frames[en.ID] = en.Frame()
	}
	e.mu.Lock()
	_, subscribed := e.announced[token]
	e.mu.Unlock()
	if subscribed && len(entries) > 0 {
		// Notifications come in the order of the writes: once the newest stored event is
		// announced, so is every one before it.
		newest := entries[len(entries)-1].ID
		storetest.Eventually(e.t, 10*time.Second, "the notification of event "+newest, func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, n := range e.announced[token] {
				if n.ID == newest {
					return true
				}
			}
			return false
		})
	}
	e.mu.Lock()
	for _, n := range e.announced[token] {
		if _, ok := frames[n.ID]; !ok {
			frames[n.ID] = chat.WithOffset(n.Body, n.ID)
		}
	}
	e.mu.Unlock()
	ids := make([]string, 0, len(frames))
	for id := range frames {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, chat.CompareIDs)
	out := make([]chat.Event, 0, len(ids))
	for _, id := range ids {
		var ev chat.Event
		if err := json.Unmarshal(frames[id], &ev); err != nil {
			e.t.Fatalf("event %s: %v", frames[id], err)
		}
		out = append(out, ev)
	}
	return out
}

func ofType(evs []chat.Event, typ string) []chat.Event {
	var out []chat.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// waitIdle waits until every request of every partition is acknowledged.
func (e *env) waitIdle(within time.Duration) {
	e.t.Helper()
	storetest.Eventually(e.t, within, "every request acknowledged", func() bool {
		for p := range e.parts {
			st, err := e.st.RequestGroupStats(e.ctx, p)
			if err != nil || st.Pending != 0 || (st.Lag > 0 && !e.embedded) {
				return false
			}
		}
		return true
	})
}

// running is a worker started by start.
type running struct {
	w      *worker.Worker
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the worker and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop")
		return nil
	}
}

// options are test settings: quick retries and reads; claim_idle long enough that a test
// machine's hiccup never looks like a dead consumer (tests of takeovers shorten it to 1s).
func options(name string, model llm.Model) worker.Options {
	return worker.Options{
		Model: model, Name: name, Replicas: 1, Concurrency: 8,
		ClaimIdle: 5 * time.Second, ShutdownTimeout: 10 * time.Second,
		SystemPrompt: "You are a test.", History: 20,
		Retry: llm.Retry{MaxRetries: 2, Timeout: 10 * time.Second, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Block: 200 * time.Millisecond, StatsEvery: 50 * time.Millisecond,
	}
}

// start runs a worker on a store of its own until the test ends.
func (e *env) start(opt worker.Options) *running {
	e.t.Helper()
	if opt.Store == nil {
		opt.Store = e.open()
	}
	reg := prometheus.NewRegistry()
	opt.Registerer = reg
	opt.Logger = testLogger(e.t)
	w, err := worker.New(opt)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() {
		if err := r.stop(e.t); err != nil {
			e.t.Errorf("worker %s: Run returned %v", opt.Name, err)
		}
	})
	return r
}

// metric is the value of the metric name with the given label values (or the sum over all).
func (r *running) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	fams, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func testLogger(t *testing.T) *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = t.Output()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recorder is a fake model that records the conversation of every call; step decides the
// answer (default: the echo model).
type recorder struct {
	mu    sync.Mutex
	calls [][]llm.Message
	step  llm.Func
}

func (r *recorder) Stream(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
	r.mu.Lock()
	r.calls = append(r.calls, append([]llm.Message(nil), msgs...))
	step := r.step
	r.mu.Unlock()
	if step == nil {
		return llm.Echo{}.Stream(ctx, msgs, onDelta)
	}
	return step(ctx, msgs, onDelta)
}

// callsFor is the conversations of the calls whose last user message was text.
func (r *recorder) callsFor(text string) [][]llm.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]llm.Message
	for _, c := range r.calls {
		if llm.LastUser(c) == text {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// slowWords streams reply word by word, one word per every, until done or ctx ends.
func slowWords(reply string, every time.Duration) llm.Func {
	return func(ctx context.Context, _ []llm.Message, onDelta func(string) error) (string, error) {
		var sb strings.Builder
		for _, w := range llm.Words(reply) {
			select {
			case <-ctx.Done():
				return sb.String(), context.Cause(ctx)
			case <-time.After(every):
			}
			sb.WriteString(w)
			onDelta(w)
		}
		return sb.String(), nil
	}
}

func texts(h []chat.Message) string {
	var parts []string
	for _, m := range h {
		parts = append(parts, m.Role+":"+m.Msg)
	}
	return strings.Join(parts, " | ")
}
