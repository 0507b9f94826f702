package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/telemetry/oteltest"

	"github.com/coder/websocket"
)

// One turn is one trace across serve and work: a client that sends a traceparent on the
// upgrade finds, in the collector, its message's span in serve, the send, the worker's queue
// wait, attempt, turn (begin, the model call with GenAI attributes, finish) and serve's
// delivery of the first delta and of the message, each the child it should be. A worker killed
// mid-reply (kill -9) leaves its request to another, whose attempt is a new span of the same
// trace (the message's traceparent on the frame this time), and whose log lines carry the
// trace_id.
func TestE2ETrace(t *testing.T) {
	t.Parallel()
	rcv := oteltest.New(t)
	d := deploy(t, shape{single: true, serves: 1, works: 1, replicas: 1, echoDelay: 3 * time.Second, env: env{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "50",
	}})
	ctx := testContext(t, 2*time.Minute)
	token, err := createSession(ctx, d.serve(0).URL(), "trace")
	if err != nil {
		t.Fatal(err)
	}
	client := newTraceparent()
	c := dialTraced(ctx, t, d.serve(0).URL(), token, client)

	// 1. A message under the upgrade's traceparent.
	c.send(ctx, t, `{"type":"message","msg":"one","client_id":"c1"}`)
	reply := c.until(ctx, t, "the reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage })
	traceID := traceIDOf(client)
	if got := traceIDOf(reply.Traceparent); got != traceID {
		t.Errorf("the reply's frame carries traceparent %q, want one of the client's trace %s", reply.Traceparent, traceID)
	}
	want := []string{"chat.message", "chat.send", "chat.queue_wait", "chat.attempt", "chat.turn", "chat.begin_turn", "chat echo",
		"chat.finish_turn", "chat.deliver"}
	spans, err := rcv.Wait(ctx, "every span of the turn", func(all []oteltest.Span) bool {
		tr := oteltest.Trace(all, traceID)
		for _, name := range want {
			if len(oteltest.Named(tr, name)) == 0 {
				return false
			}
		}
		return len(oteltest.Named(tr, "chat.deliver")) >= 2
	})
	if err != nil {
		t.Fatalf("%v; got %s", err, names(oteltest.Trace(spans, traceID)))
	}
	tr := oteltest.Trace(spans, traceID)
	one := func(name string) oteltest.Span {
		t.Helper()
		got := oteltest.Named(tr, name)
		if len(got) != 1 {
			t.Fatalf("%d spans %s in the trace, want 1: %s", len(got), name, names(tr))
		}
		return got[0]
	}
	msg, send, wait, attempt, turn := one("chat.message"), one("chat.send"), one("chat.queue_wait"), one("chat.attempt"), one("chat.turn")
	begin, model, finish := one("chat.begin_turn"), one("chat echo"), one("chat.finish_turn")
	parentOf(t, msg, spanIDOf(client))
	parentOf(t, send, msg.SpanID)
	parentOf(t, wait, send.SpanID)
	parentOf(t, attempt, send.SpanID)
	parentOf(t, turn, attempt.SpanID)
	parentOf(t, begin, turn.SpanID)
	parentOf(t, model, turn.SpanID)
	parentOf(t, finish, turn.SpanID)
	for _, s := range []oteltest.Span{msg, send} {
		serviceOf(t, s, "chatbot-serve")
	}
	for _, s := range []oteltest.Span{wait, attempt, turn, begin, model, finish} {
		serviceOf(t, s, "chatbot-work")
	}
	if model.Attrs["gen_ai.operation.name"] != "chat" || model.Attrs["gen_ai.request.model"] != "echo" {
		t.Errorf("model call attributes %v, want gen_ai.operation.name chat and gen_ai.request.model echo", model.Attrs)
	}
	for _, k := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"} {
		if n, ok := model.Attrs[k].(int64); !ok || n <= 0 {
			t.Errorf("model call %s = %v, want a count", k, model.Attrs[k])
		}
	}
	if _, ok := model.Attrs["gen_ai.response.time_to_first_token"].(float64); !ok {
		t.Errorf("model call has no time to first token: %v", model.Attrs)
	}
	if attempt.Attrs["chat.outcome"] != "answered" {
		t.Errorf("attempt outcome %v, want answered", attempt.Attrs["chat.outcome"])
	}
	if turn.Attrs["chat.result"] != "answered" {
		t.Errorf("turn result %v, want answered", turn.Attrs["chat.result"])
	}
	if wait.End.Before(wait.Start) || attempt.Start.Before(wait.End.Add(-time.Millisecond)) {
		t.Errorf("queue wait %s..%s, attempt from %s: want the wait to end as the attempt begins", wait.Start, wait.End, attempt.Start)
	}
	delivered := map[any]int{}
	for _, s := range oteltest.Named(tr, "chat.deliver") {
		parentOf(t, s, turn.SpanID)
		serviceOf(t, s, "chatbot-serve")
		delivered[s.Attrs["chat.frame.type"]]++
	}
	if delivered[chat.FrameDelta] != 1 || delivered[chat.FrameMessage] != 1 {
		t.Errorf("deliveries %v, want the first delta and the message once each", delivered)
	}

	// 2. A worker killed mid-reply: the message's own traceparent (on the frame) names the trace.
	second := newTraceparent()
	traceID2 := traceIDOf(second)
	c.send(ctx, t, `{"type":"message","msg":"two","client_id":"c2","traceparent":"`+second+`"}`)
	c.until(ctx, t, "the first delta of the second reply", func(ev chat.Event) bool { return ev.Type == chat.FrameDelta })
	// The killed worker's queue wait ended before its first delta: wait until it is exported, so
	// that the request is known to be the first worker's.
	if _, err := rcv.Wait(ctx, "the first worker's queue wait", func(all []oteltest.Span) bool {
		return len(oteltest.Named(oteltest.Trace(all, traceID2), "chat.queue_wait")) == 1
	}); err != nil {
		t.Fatal(err)
	}
	d.work(0).kill()
	survivor := d.addWork("work2", 1)
	reply2 := c.until(ctx, t, "the second reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage })
	if got := traceIDOf(reply2.Traceparent); got != traceID2 {
		t.Errorf("the second reply carries traceparent %q, want one of trace %s", reply2.Traceparent, traceID2)
	}
	spans, err = rcv.Wait(ctx, "the reclaimed attempt", func(all []oteltest.Span) bool {
		for _, s := range oteltest.Named(oteltest.Trace(all, traceID2), "chat.turn") {
			if s.Attrs["chat.result"] == "answered" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%v; got %s", err, names(oteltest.Trace(spans, traceID2)))
	}
	tr2 := oteltest.Trace(spans, traceID2)
	sends := oteltest.Named(tr2, "chat.send")
	attempts := oteltest.Named(tr2, "chat.attempt")
	if len(sends) != 1 || len(attempts) != 1 {
		t.Fatalf("trace 2 has %d sends and %d attempts, want 1 and 1 (the killed worker's never ended): %s", len(sends), len(attempts), names(tr2))
	}
	parentOf(t, oteltest.Named(tr2, "chat.message")[0], spanIDOf(second))
	reclaimed := attempts[0]
	parentOf(t, reclaimed, sends[0].SpanID)
	if n, _ := reclaimed.Attrs["chat.deliveries"].(int64); n < 2 {
		t.Errorf("the reclaimed attempt has chat.deliveries %v, want 2 or more", reclaimed.Attrs["chat.deliveries"])
	}
	var restarted bool
	for _, s := range oteltest.Named(tr2, "chat.turn") {
		if s.ParentID == reclaimed.SpanID && s.Attrs["chat.restart"] == true {
			restarted = true
		}
	}
	if !restarted {
		t.Errorf("no restarted turn under the reclaimed attempt: %s", names(tr2))
	}
	// The survivor's log lines of the request carry its trace.
	if err := survivor.waitLog(`"trace_id":"`+traceID2+`"`, 10*time.Second); err != nil {
		t.Errorf("the surviving worker's log has no line with trace_id %s: %v\n%s", traceID2, err, tail(survivor.log, 20))
	}
}

// With tracing off (OTEL_SDK_DISABLED=true, though an endpoint is set), nothing is exported
// and nothing of tracing reaches Redis or the client, whatever traceparent the client sends.
func TestE2ETraceOff(t *testing.T) {
	t.Parallel()
	rcv := oteltest.New(t)
	d := deploy(t, shape{single: true, serves: 1, works: 1, replicas: 1, env: env{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "50",
		"OTEL_SDK_DISABLED":           "true",
	}})
	ctx := testContext(t, time.Minute)
	token, err := createSession(ctx, d.serve(0).URL(), "off")
	if err != nil {
		t.Fatal(err)
	}
	c := dialTraced(ctx, t, d.serve(0).URL(), token, newTraceparent())
	c.send(ctx, t, `{"type":"message","msg":"one","traceparent":"`+newTraceparent()+`"}`)
	c.until(ctx, t, "the reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage })
	if c.sawTrace {
		t.Error("a frame carries a traceparent with tracing off")
	}
	parts, _ := strconv.Atoi(d.env["CHATBOT_STREAM_PARTITIONS"])
	entries := 0
	for p := range parts {
		out, err := d.single.Do(ctx, "XRANGE", requestsKey(p), "-", "+")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, chat.ReqFieldTraceparent) {
			t.Errorf("request stream %d holds a traceparent with tracing off:\n%s", p, out)
		}
		entries += strings.Count(out, chat.ReqFieldToken)
	}
	if entries == 0 {
		t.Fatal("no request entry found (test did not test anything)")
	}
	// Exit flushes any exporter there is.
	d.serve(0).terminate(10 * time.Second)
	d.work(0).terminate(10 * time.Second)
	if n := rcv.Requests(); n != 0 {
		t.Errorf("the collector got %d exports with tracing off", n)
	}
	for _, p := range []*proc{d.serve(0), d.work(0)} {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "tracing on") || strings.Contains(string(b), "trace_id") {
			t.Errorf("%s logs tracing with tracing off:\n%s", p.name, tail(p.log, 20))
		}
	}
}

// tracedConn is a client socket that reads every frame into events.
type tracedConn struct {
	conn     *websocket.Conn
	frames   chan chat.Event
	sawTrace bool // some frame carried a traceparent
}

// dialTraced opens ?stream=1 on base for token with the traceparent header tp.
func dialTraced(ctx context.Context, t *testing.T, base, token, tp string) *tracedConn {
	t.Helper()
	h := http.Header{}
	h.Set("traceparent", tp)
	q := url.Values{"token": {token}, "stream": {"1"}}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/chat?"+q.Encode(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &tracedConn{conn: conn, frames: make(chan chat.Event, 1024)}
	go func() {
		defer close(c.frames)
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var ev chat.Event
			if json.Unmarshal(data, &ev) == nil {
				c.frames <- ev
			}
		}
	}()
	return c
}

func (c *tracedConn) send(ctx context.Context, t *testing.T, frame string) {
	t.Helper()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// until reads frames until cond holds for one, which it returns; an error frame fails t.
func (c *tracedConn) until(ctx context.Context, t *testing.T, what string, cond func(chat.Event) bool) chat.Event {
	t.Helper()
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case ev, ok := <-c.frames:
			if !ok {
				t.Fatalf("waiting for %s: the socket closed", what)
			}
			if ev.Traceparent != "" {
				c.sawTrace = true
			}
			if ev.Type == chat.FrameError {
				t.Fatalf("waiting for %s: error frame %s: %s", what, ev.Code, ev.Msg)
			}
			if cond(ev) {
				return ev
			}
		}
	}
}

// newTraceparent is a sampled W3C traceparent of a new trace, as a client's span would send.
func newTraceparent() string {
	b := make([]byte, 24)
	rand.Read(b)
	return fmt.Sprintf("00-%s-%s-01", hex.EncodeToString(b[:16]), hex.EncodeToString(b[16:]))
}

func traceIDOf(tp string) string {
	f := strings.Split(tp, "-")
	if len(f) != 4 {
		return ""
	}
	return f[1]
}

func spanIDOf(tp string) string { return strings.Split(tp, "-")[2] }

func parentOf(t *testing.T, s oteltest.Span, parent string) {
	t.Helper()
	if s.ParentID != parent {
		t.Errorf("span %s (%s) has parent %q, want %q", s.Name, s.Service, s.ParentID, parent)
	}
}

func serviceOf(t *testing.T, s oteltest.Span, service string) {
	t.Helper()
	if s.Service != service {
		t.Errorf("span %s comes from %q, want %s", s.Name, s.Service, service)
	}
}

// names lists spans as "name(service) span<-parent" for a failure message.
func names(spans []oteltest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s (%s) %s<-%s %v", s.Name, s.Service, s.SpanID, s.ParentID, s.Attrs)
	}
	return b.String()
}
