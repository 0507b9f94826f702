package web

// Tracing of the web tier (pkg/telemetry; every span is skipped when Options.Tracer is nil):
// a socket message is a span that joins the client's trace (the frame's traceparent, else the
// upgrade request's), with the send script beneath it; its traceparent goes with the message
// to the worker. The worker's delta and message events carry the turn's traceparent back:
// writing them to a socket is a delivery span of that trace (the first delta of a reply and
// its message, per socket), and chatbot_web_delivery_seconds times every one.

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/telemetry"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names of the web tier.
const (
	spanMessage = "chat.message"    // a user message frame, received to queued
	spanRegen   = "chat.regenerate" // a regenerate command, received to queued
	spanSend    = "chat.send"       // the send script (and the request stream entry)
	spanDeliver = "chat.deliver"    // an event of a reply written to one socket
)

// upgradeTrace is the span context of the traceparent header of a WebSocket upgrade (the
// client's trace), invalid when there is none, or with tracing off.
func upgradeTrace(r *http.Request, tracing bool) trace.SpanContext {
	if !tracing {
		return trace.SpanContext{}
	}
	tp := r.Header.Get("traceparent")
	if tp == "" || len(tp) > chat.MaxTraceparentBytes {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(telemetry.Join(context.Background(), tp))
}

// startMessage starts the spans of a message frame: the message's, under the client's trace
// (the frame's traceparent, else the upgrade's), and the send's beneath it. ctx carries the
// send's span; the caller ends both (endMessage). Nil spans with tracing off.
func (sock *socket) startMessage(cmd chat.Command) (context.Context, trace.Span, trace.Span) {
	name := spanMessage
	if cmd.Type == chat.CmdRegenerate {
		name = spanRegen
	}
	tr := sock.srv.opt.Tracer
	ctx := context.Background()
	if tr == nil {
		return ctx, nil, nil
	}
	if sc := trace.SpanContextFromContext(telemetry.Join(ctx, cmd.Traceparent)); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	} else if sock.trace.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sock.trace)
	}
	ctx, msg := tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("chat.session", tokenHash(sock.token)), attribute.Int("chat.message.bytes", len(cmd.Msg))))
	ctx, send := tr.Start(ctx, spanSend, trace.WithSpanKind(trace.SpanKindClient))
	return ctx, msg, send
}

// endMessage ends the spans of a message frame with what Send said.
func endMessage(msg, send trace.Span, sent store.Sent, err error) {
	if msg == nil {
		return
	}
	if err != nil {
		send.SetStatus(codes.Error, err.Error())
		msg.SetStatus(codes.Error, err.Error())
	} else {
		send.SetAttributes(attribute.Int64("chat.seq", sent.Seq), attribute.String("chat.message.id", sent.ID),
			attribute.Bool("chat.duplicate", sent.Duplicate))
	}
	send.End()
	msg.End()
}

// traceparentKey starts the traceparent in an event's JSON body. Only a key can be followed
// by `":"` unescaped: a string value's quotes inside the text are escaped.
var traceparentKey = []byte(`"traceparent":"`)

// eventTraceparent is the traceparent an event's JSON body carries, "" for none.
func eventTraceparent(body []byte) string {
	i := bytes.Index(body, traceparentKey)
	if i < 0 {
		return ""
	}
	rest := body[i+len(traceparentKey):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || end > chat.MaxTraceparentBytes {
		return ""
	}
	return string(rest[:end])
}

// delivered times a delta or message event written to the socket at now, from the time in
// its ID (chatbot_web_delivery_seconds), and with tracing makes the delivery span of the
// first delta of a reply and of its message (the reply's trace is the event's traceparent).
func (s *socket) delivered(f outFrame, now time.Time) {
	if f.id == "" || (f.typ != chat.FrameDelta && f.typ != chat.FrameMessage) {
		return
	}
	at := chat.IDTime(f.id)
	if at.IsZero() {
		return
	}
	if at.After(now) {
		at = now // clock skew between hosts
	}
	s.srv.met.delivery[f.typ].Observe(now.Sub(at).Seconds())
	tr := s.srv.opt.Tracer
	if tr == nil || f.trace == "" {
		return
	}
	if f.typ == chat.FrameDelta {
		if f.trace == s.lastTrace {
			return // not the reply's first delta on this socket
		}
		s.lastTrace = f.trace
	}
	_, span := tr.Start(telemetry.Join(context.Background(), f.trace), spanDeliver, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithTimestamp(at), trace.WithAttributes(attribute.String("chat.frame.type", f.typ), attribute.String("chat.event.id", f.id),
			attribute.Bool("chat.stream", s.stream)))
	span.End(trace.WithTimestamp(now))
}
