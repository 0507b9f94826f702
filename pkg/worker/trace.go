package worker

// Tracing of a request's work (pkg/telemetry; every span is skipped when Options.Tracer is
// nil): the queue wait and the attempt join the trace of the request entry's traceparent;
// each turn joins the trace of its message's (the message was queued by serve's span), with
// the begin and finish steps and one span per model call beneath it; the turn's events carry
// the turn's traceparent on to serve's delivery.

import (
	"context"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/telemetry"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names of the worker.
const (
	spanQueueWait = "chat.queue_wait"  // request entry added → read by this consumer
	spanAttempt   = "chat.attempt"     // one delivery of a request: its work until acknowledged or handed back
	spanTurn      = "chat.turn"        // one message answered: begin, model calls, finish
	spanBegin     = "chat.begin_turn"  // the lease taken, the message and the history read
	spanFinish    = "chat.finish_turn" // the turn stored
)

// sinceClamped is the time from at to now, 0 when at is later (clock skew between hosts).
func sinceClamped(at, now time.Time) time.Duration { return max(now.Sub(at), 0) }

// startAttempt starts the spans of a request's delivery read at read: its queue wait (a
// first delivery only: a request taken over waited for a worker that died) and the attempt,
// both children of the request's traceparent. It returns ctx with the attempt span, and the
// span (nil with tracing off).
func (c *consumer) startAttempt(ctx context.Context, e store.RequestEntry, req chat.Request, read time.Time) (context.Context, trace.Span) {
	tr := c.w.opt.Tracer
	if tr == nil {
		return ctx, nil
	}
	parent := telemetry.Join(ctx, req.Traceparent)
	if at := chat.IDTime(e.ID); !at.IsZero() && e.Deliveries == 1 {
		_, wait := tr.Start(parent, spanQueueWait, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithTimestamp(minTime(at, read)),
			trace.WithAttributes(attribute.String("chat.request.id", e.ID), attribute.Int("chat.partition", e.Partition)))
		wait.End(trace.WithTimestamp(read))
	}
	return tr.Start(parent, spanAttempt, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(read),
		trace.WithAttributes(attribute.String("chat.request.id", e.ID), attribute.Int("chat.partition", e.Partition),
			attribute.Int64("chat.request.seq", req.Seq), attribute.Int64("chat.deliveries", e.Deliveries),
			attribute.String("chat.consumer", c.name), attribute.String("chat.session", chat.TokenTag(req.Token))))
}

// outcomeNames name the outcomes on an attempt's span (chat.outcome). process never returns
// again: an attempt that ends with it panicked.
var outcomeNames = map[outcome]string{again: "panicked", stopped: "handed_back", answered: "answered", acked: "answered",
	requeued: "requeued", covered: "covered", gone: "gone", deadLettered: "dead_lettered", newer: "newer"}

// endAttempt ends an attempt's span with how it ended (chat.outcome).
func endAttempt(span trace.Span, o outcome) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("chat.outcome", outcomeNames[o]))
	if o == again {
		span.SetStatus(codes.Error, "panicked")
	}
	span.End()
}

func minTime(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// began is when a turn's BeginTurn was called and answered.
type began struct{ start, end time.Time }

// beginTurn is store.BeginTurn, timed for the turn's span.
func (c *consumer) beginTurn(token, holder string) (store.Turn, store.TurnState, began, error) {
	b := began{start: time.Now()}
	t, state, err := c.st.BeginTurn(c.work, token, holder, 2*c.w.opt.History, c.w.opt.Lease)
	b.end = time.Now()
	return t, state, b, err
}

// startTurn starts the span of turn t, begun at b, under the job's attempt, or under the
// trace of t's message when that is another trace (a message sent while this attempt held the
// session: it queued no request), linked to the attempt. It returns ctx (c.work's) with the
// turn's span, and the span (nil with tracing off); t.Traceparent is set for its events.
func (c *consumer) startTurn(j job, t *store.Turn, b began) (context.Context, trace.Span) {
	tr := c.w.opt.Tracer
	if tr == nil {
		return c.work, nil
	}
	parent := trace.ContextWithSpanContext(c.work, trace.SpanContextFromContext(j.ctx))
	var links []trace.Link
	attempt := trace.SpanContextFromContext(j.ctx)
	mt := t.Message.Traceparent
	if t.Regen != nil {
		mt = t.Regen.Traceparent
	}
	if mt != "" {
		mctx := telemetry.Join(c.work, mt)
		if sc := trace.SpanContextFromContext(mctx); sc.IsValid() && sc.TraceID() != attempt.TraceID() {
			parent = mctx
			if attempt.IsValid() {
				links = append(links, trace.Link{SpanContext: attempt})
			}
		}
	}
	start := b.start
	if start.IsZero() {
		start = time.Now()
	}
	ctx, span := tr.Start(parent, spanTurn, trace.WithTimestamp(start), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("chat.session", chat.TokenTag(t.Token)), attribute.Int64("chat.seq", t.Seq),
			attribute.String("chat.message.id", t.Message.ID), attribute.Bool("chat.restart", t.Restart),
			attribute.Bool("chat.regenerate", t.Regen != nil)))
	if !b.start.IsZero() {
		_, bs := tr.Start(ctx, spanBegin, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(b.start),
			trace.WithAttributes(attribute.Int("chat.history", len(t.History))))
		bs.End(trace.WithTimestamp(b.end))
	}
	t.Traceparent = telemetry.Traceparent(ctx)
	return ctx, span
}

// endTurn ends a turn's span with its result (answered, stopped, failed, quota, abandoned).
func endTurn(span trace.Span, result string, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("chat.result", result))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// turnContext carries the span of turn t (its traceparent) for log lines about it, which then
// have its trace_id (telemetry.LogHandler); a context without one with tracing off.
func turnContext(t store.Turn) context.Context {
	return telemetry.Join(context.Background(), t.Traceparent)
}

// startFinish starts the span of storing t, under its turn (t.Traceparent).
func (c *consumer) startFinish(t store.Turn) trace.Span {
	tr := c.w.opt.Tracer
	if tr == nil || t.Traceparent == "" {
		return nil
	}
	_, span := tr.Start(telemetry.Join(context.Background(), t.Traceparent), spanFinish, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int64("chat.seq", t.Seq)))
	return span
}

func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startModelCall starts the span of one model call (attempt n) with the GenAI semantic
// conventions' names: "chat <model>", gen_ai.operation.name chat, gen_ai.request.model.
func (c *consumer) startModelCall(ctx context.Context, n int) trace.Span {
	tr := c.w.opt.Tracer
	if tr == nil {
		return nil
	}
	model := c.w.opt.ModelName
	_, span := tr.Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", model),
			attribute.Int("chat.model.attempt", n)))
	return span
}

// firstToken records the model call's first piece of text, ttft after the call began.
func firstToken(span trace.Span, ttft time.Duration) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Float64("gen_ai.response.time_to_first_token", ttft.Seconds()))
	span.AddEvent("gen_ai.first_token")
}

// endModelCall ends a model call's span with the tokens it used (estimated: the provider
// reported none) and its error.
func endModelCall(span trace.Span, in, out int64, estimated bool, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int64("gen_ai.usage.input_tokens", in), attribute.Int64("gen_ai.usage.output_tokens", out))
	if estimated {
		span.SetAttributes(attribute.Bool("chat.usage.estimated", true))
	}
	endSpan(span, err)
}
