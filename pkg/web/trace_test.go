package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/telemetry/oteltest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	upgradeTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	frameTP   = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	replyTP   = "00-11111111111111111111111111111111-2222222222222222-01"
)

// dialTraced opens a socket with the traceparent header tp.
func dialTraced(t *testing.T, e *env, query, tp string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{}
	h.Set("traceparent", tp)
	c, _, err := websocket.Dial(ctx, wsURL(e.ts, query), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c}
}

// chatbot_web_delivery_seconds is observed once per delta or message event written to a
// socket: a ?stream=1 socket gets both, a plain one the message only.
func TestDeliveryHistogram(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		streaming, plain := e.dial(tokenQuery(sess, "stream=1")), e.dial(tokenQuery(sess, ""))
		if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, ReplyTo: "m", Text: "ec"}); err != nil {
			t.Fatal(err)
		}
		ts := time.Now().UTC()
		if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameMessage, ID: "r", Role: chat.RoleBot, Msg: "echo", Timestamp: &ts, ReplyTo: "m"}); err != nil {
			t.Fatal(err)
		}
		streaming.nextOf(chat.FrameMessage)
		plain.nextOf(chat.FrameMessage)
		storetest.Eventually(t, wait, "the deliveries observed", func() bool {
			return metric(t, e.ts, `chatbot_web_delivery_seconds_count{type="message"}`) == "2"
		})
		if got := metric(t, e.ts, `chatbot_web_delivery_seconds_count{type="delta"}`); got != "1" {
			t.Errorf("deltas delivered %q times, want 1", got)
		}
	})
}

// A message joins the client's trace (the frame's traceparent, else the upgrade's): its span,
// the send's beneath it, whose traceparent the pending message keeps for the worker. Writing
// a reply's first delta and its message to a socket are spans of the reply's trace.
func TestMessageAndDeliverySpans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		tracer, rec := oteltest.Recorder(t)
		e := setup(t, b, web.Options{Tracer: tracer}, store.Options{})
		sess := e.session()
		c := dialTraced(t, e, tokenQuery(sess, "stream=1"), upgradeTP)
		c.send(`{"type":"message","msg":"one"}`)
		c.nextOf(chat.FrameAck)
		c.send(`{"type":"message","msg":"two","traceparent":"` + frameTP + `"}`)
		c.nextOf(chat.FrameAck)

		// The ack may arrive before the message's span ends: Send's reply is on its way back.
		var msgs, sends []sdktrace.ReadOnlySpan
		storetest.Eventually(t, wait, "the spans of two messages", func() bool {
			spans := rec.Ended()
			msgs, sends = named(spans, "chat.message"), named(spans, "chat.send")
			return len(msgs) >= 2 && len(sends) >= 2
		})
		if len(msgs) != 2 || len(sends) != 2 {
			t.Fatalf("%d message spans and %d send spans, want 2 and 2", len(msgs), len(sends))
		}
		for i, want := range []string{upgradeTP, frameTP} {
			if got := msgs[i].Parent(); got.TraceID().String() != traceOf(want) || got.SpanID().String() != spanOf(want) {
				t.Errorf("message %d's parent %s/%s, want the client's %s", i, got.TraceID(), got.SpanID(), want)
			}
			if sends[i].Parent().SpanID() != msgs[i].SpanContext().SpanID() {
				t.Errorf("send %d is not a child of its message's span", i)
			}
		}
		for i := range 2 {
			turn, _, err := e.st.BeginTurn(e.ctx, sess.Token, "w", 10, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			sc := sends[i].SpanContext()
			if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; turn.Message.Traceparent != want {
				t.Errorf("pending message %d carries %q, want the send's %s", i, turn.Message.Traceparent, want)
			}
			reply := chat.Message{ID: "r" + turn.Message.ID, Role: chat.RoleBot, Msg: "echo", Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID}
			turn.Traceparent = replyTP
			for _, text := range []string{"ec", "ho"} {
				if _, err := e.st.EmitDelta(e.ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: text, Traceparent: replyTP}); err != nil {
					t.Fatal(err)
				}
			}
			ev := chat.MessageEvent(reply)
			ev.Traceparent = replyTP
			if _, err := e.st.FinishTurn(e.ctx, turn, &reply, ev); err != nil {
				t.Fatal(err)
			}
			if f := c.nextOf(chat.FrameMessage); f.Traceparent != replyTP {
				t.Errorf("the message frame carries %q, want the reply's %s", f.Traceparent, replyTP)
			}
		}
		var deliveries []sdktrace.ReadOnlySpan
		storetest.Eventually(t, wait, "the delivery spans", func() bool {
			deliveries = named(rec.Ended(), "chat.deliver")
			return len(deliveries) >= 3
		})
		types := map[string]int{}
		for _, d := range deliveries {
			if d.Parent().SpanID().String() != spanOf(replyTP) || d.SpanContext().TraceID().String() != traceOf(replyTP) {
				t.Errorf("delivery span parent %s, want the reply's %s", d.Parent().SpanID(), replyTP)
			}
			for _, kv := range d.Attributes() {
				if kv.Key == "chat.frame.type" {
					types[kv.Value.AsString()]++
				}
			}
		}
		// Both replies carry replyTP: the second's deltas are not a new reply's on this socket.
		if types[chat.FrameDelta] != 1 || types[chat.FrameMessage] != 2 {
			t.Errorf("deliveries by type %v, want the first delta once and each message", types)
		}
	})
}

// Without a tracer nothing of tracing reaches Redis, whatever the client sends.
func TestNoTracerNoTraceparent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{Partitions: 1})
		sess := e.session()
		c := dialTraced(t, e, tokenQuery(sess, "stream=1"), upgradeTP)
		c.send(`{"type":"message","msg":"two","traceparent":"` + frameTP + `"}`)
		c.nextOf(chat.FrameAck)
		turn, _, err := e.st.BeginTurn(e.ctx, sess.Token, "w", 10, 5*time.Second)
		if err != nil || turn.Message.Msg != "two" {
			t.Fatalf("%+v %v", turn, err)
		}
		if turn.Message.Traceparent != "" {
			t.Errorf("the pending message keeps traceparent %q without a tracer", turn.Message.Traceparent)
		}
		rdb := e.st.Client()
		res, err := rdb.Do(e.ctx, rdb.B().Xrange().Key(e.st.Keys().Requests(0)).Start("-").End("+").Build()).AsXRange()
		if err != nil || len(res) != 1 {
			t.Fatalf("request entries %v %v", res, err)
		}
		if _, ok := res[0].FieldValues[chat.ReqFieldTraceparent]; ok {
			t.Errorf("the request entry has a traceparent without a tracer: %v", res[0].FieldValues)
		}
	})
}

var named = oteltest.RecordedNamed

func traceOf(tp string) string { return strings.Split(tp, "-")[1] }
func spanOf(tp string) string  { return strings.Split(tp, "-")[2] }

// A regenerate command joins the client's trace as a message does: chat.regenerate, the send
// beneath it, whose traceparent the pending regeneration keeps.
func TestRegenerateSpans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		tracer, rec := oteltest.Recorder(t)
		e := setup(t, b, web.Options{Tracer: tracer}, store.Options{})
		sess := e.session()
		if _, err := e.st.Send(e.ctx, sess.Token, chat.Message{ID: "m1", Role: chat.RoleHuman, Msg: "one", Timestamp: time.Now().UTC()}, store.SendLimits{MaxPending: 8, MessagesPerMinute: 60}); err != nil {
			t.Fatal(err)
		}
		turn, _, err := e.st.BeginTurn(e.ctx, sess.Token, "w", 10, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		reply := chat.Message{ID: "r1", Role: chat.RoleBot, Msg: "echo", Timestamp: time.Now().UTC(), ReplyTo: "m1"}
		if _, err := e.st.FinishTurn(e.ctx, turn, &reply, chat.MessageEvent(reply)); err != nil {
			t.Fatal(err)
		}
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send(`{"type":"regenerate","traceparent":"` + frameTP + `"}`)
		c.nextOf(chat.FrameAck)
		var regens, sends []sdktrace.ReadOnlySpan
		storetest.Eventually(t, wait, "the regenerate's spans", func() bool {
			spans := rec.Ended()
			regens, sends = named(spans, "chat.regenerate"), named(spans, "chat.send")
			return len(regens) == 1 && len(sends) == 1
		})
		if got := regens[0].Parent(); got.SpanID().String() != spanOf(frameTP) || sends[0].Parent().SpanID() != regens[0].SpanContext().SpanID() {
			t.Errorf("chat.regenerate's parent %s, want the frame's; chat.send's %s, want chat.regenerate", got.SpanID(), sends[0].Parent().SpanID())
		}
		turn, _, err = e.st.BeginTurn(e.ctx, sess.Token, "w", 10, 5*time.Second)
		if err != nil || turn.Regen == nil {
			t.Fatalf("%+v %v, want the regeneration", turn, err)
		}
		sc := sends[0].SpanContext()
		if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; turn.Regen.Traceparent != want {
			t.Errorf("the pending regeneration carries %q, want the send's %s", turn.Regen.Traceparent, want)
		}
	})
}
