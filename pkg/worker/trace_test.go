package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/telemetry/oteltest"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The latency histograms are observed once per request read (queue wait) and once per turn
// stored (reply), however the session's messages were queued.
func TestLatencyHistograms(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		tok := e.session()
		for _, m := range []string{"one", "two", "three"} {
			e.send(tok, m) // three requests: the first's attempt answers all three turns
		}
		r := e.start(options("w", &recorder{}))
		e.waitHistory(tok, 6, 30*time.Second)
		e.waitIdle(30 * time.Second)
		storetest.Eventually(t, 10*time.Second, "3 replies observed", func() bool {
			return r.metric(t, "chatbot_worker_reply_seconds") >= 3
		})
		if n := r.metric(t, "chatbot_worker_reply_seconds"); n != 3 {
			t.Errorf("chatbot_worker_reply_seconds observed %v times, want once per turn: 3", n)
		}
		if n := r.metric(t, "chatbot_worker_queue_wait_seconds"); n != 3 {
			t.Errorf("chatbot_worker_queue_wait_seconds observed %v times, want once per request read: 3", n)
		}
	})
}

// A turn's spans: the queue wait and the attempt under the request's traceparent, the turn
// under the attempt with its begin, model call (GenAI attributes) and finish; the turn's
// events carry its traceparent. A message sent while the attempt held the session (it queued
// no request) gets a turn in its own trace, linked to the attempt.
func TestTurnSpans(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		tracer, rec := oteltest.Recorder(t)
		tok := e.session()
		parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

		release := make(chan struct{})
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			if llm.LastUser(msgs) == "one" {
				<-release // "two" is sent while this turn holds the lease
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		}}
		opt := options("w", model)
		opt.Tracer, opt.ModelName = tracer, "m"
		e.start(opt)
		sendTraced(t, e, tok, "one", parent)
		storetest.Eventually(t, 10*time.Second, "the first turn's model call", func() bool { return model.count() == 1 })
		sendTraced(t, e, tok, "two", other)
		close(release)
		e.waitHistory(tok, 4, 30*time.Second)
		e.waitIdle(30 * time.Second)

		var spans []sdktrace.ReadOnlySpan
		storetest.Eventually(t, 10*time.Second, "the attempt's span", func() bool {
			spans = rec.Ended()
			return len(named(spans, "chat.attempt")) == 1
		})
		one := func(name, trace string) sdktrace.ReadOnlySpan {
			t.Helper()
			var got []sdktrace.ReadOnlySpan
			for _, s := range named(spans, name) {
				if s.SpanContext().TraceID().String() == trace {
					got = append(got, s)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d spans %s in trace %s, want 1", len(got), name, trace)
			}
			return got[0]
		}
		trace1, trace2 := strings.Split(parent, "-")[1], strings.Split(other, "-")[1]
		wait, attempt := one("chat.queue_wait", trace1), one("chat.attempt", trace1)
		turn1, turn2 := one("chat.turn", trace1), one("chat.turn", trace2)
		isChild(t, wait, strings.Split(parent, "-")[2])
		isChild(t, attempt, strings.Split(parent, "-")[2])
		isChild(t, turn1, attempt.SpanContext().SpanID().String())
		isChild(t, turn2, strings.Split(other, "-")[2])
		if l := turn2.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != attempt.SpanContext().SpanID() {
			t.Errorf("the second turn's links %v, want the attempt", l)
		}
		for _, kv := range attempt.Attributes() {
			if kv.Key == "chat.outcome" && kv.Value.AsString() != "answered" {
				t.Errorf("the attempt's outcome %s, want answered", kv.Value.AsString())
			}
		}
		for _, name := range []string{"chat.begin_turn", "chat m", "chat.finish_turn"} {
			isChild(t, one(name, trace1), turn1.SpanContext().SpanID().String())
		}
		attrs := map[string]any{}
		for _, kv := range one("chat m", trace1).Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		if attrs["gen_ai.operation.name"] != "chat" || attrs["gen_ai.request.model"] != "m" || attrs["gen_ai.usage.input_tokens"] == nil ||
			attrs["gen_ai.usage.output_tokens"] == nil || attrs["gen_ai.response.time_to_first_token"] == nil {
			t.Errorf("model call attributes %v", attrs)
		}
		msgs := ofType(e.events(tok), chat.FrameMessage)
		if len(msgs) != 2 {
			t.Fatalf("%d message events, want 2", len(msgs))
		}
		for i, turn := range []sdktrace.ReadOnlySpan{turn1, turn2} {
			sc := turn.SpanContext()
			if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; msgs[i].Traceparent != want {
				t.Errorf("message event %d carries traceparent %q, want its turn's %s", i, msgs[i].Traceparent, want)
			}
		}
	})
}

// Without a tracer nothing of tracing is written: no traceparent on the events, even for a
// message that came with one.
func TestNoTracerNoTraceparent(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		tok := e.session()
		sendTraced(t, e, tok, "one", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		e.start(options("w", &recorder{}))
		e.waitHistory(tok, 2, 30*time.Second)
		for _, ev := range e.events(tok) {
			if ev.Traceparent != "" {
				t.Errorf("event %s carries a traceparent without a tracer", ev.Type)
			}
		}
	})
}

func sendTraced(t *testing.T, e *env, tok, text, traceparent string) {
	t.Helper()
	m := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: text, Timestamp: time.Now().UTC(), Traceparent: traceparent}
	if _, err := e.st.Send(e.ctx, tok, m, limits); err != nil {
		t.Fatal(err)
	}
}

var named = oteltest.RecordedNamed

func isChild(t *testing.T, s sdktrace.ReadOnlySpan, parent string) {
	t.Helper()
	if got := s.Parent().SpanID().String(); got != parent {
		t.Errorf("span %s has parent %s, want %s", s.Name(), got, parent)
	}
}
