package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"chatbot/pkg/telemetry"
	"chatbot/pkg/telemetry/oteltest"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigured(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		on   bool
		fail string
	}{
		{env: nil},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, fail: "OTLP over HTTP"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, fail: "otlp only"},
	} {
		on, err := telemetry.Configured(env(c.env))
		if on != c.on || (err == nil) != (c.fail == "") || (err != nil && !strings.Contains(err.Error(), c.fail)) {
			t.Errorf("%v: on %v, err %v; want on %v, error with %q", c.env, on, err, c.on, c.fail)
		}
	}
}

// TestSetupOffStartsNothing: without an exporter configured, Setup starts no goroutine and
// gives a nil tracer (what pkg/web and pkg/worker test for).
func TestSetupOffStartsNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SERVICE_NAME", "x")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	tr, err := telemetry.Setup(context.Background(), telemetry.Options{Service: "chatbot-test"})
	if err != nil || tr != nil {
		t.Fatalf("Setup: %v, %v; want nil, nil", tr, err)
	}
	if tr.Tracer("x") != nil {
		t.Error("a nil Tracing gave a tracer")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestSetupExports: with an endpoint, spans reach an OTLP/HTTP receiver with the service name.
func TestSetupExports(t *testing.T) {
	rcv := oteltest.New(t)
	ctx := context.Background()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	tr, err := telemetry.Setup(ctx, telemetry.Options{Service: "chatbot-test", Version: "v1"})
	if err != nil || tr == nil {
		t.Fatalf("Setup: %v, %v", tr, err)
	}
	pctx, parent := tr.Tracer("test").Start(ctx, "parent")
	_, child := tr.Tracer("test").Start(pctx, "child")
	child.End()
	parent.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans()
	if len(spans) != 2 || spans[0].Name != "parent" || spans[1].ParentID != spans[0].SpanID || spans[0].Service != "chatbot-test" {
		t.Fatalf("received %+v", spans)
	}
}

func TestTraceparentJoin(t *testing.T) {
	t.Parallel()
	if tp := telemetry.Traceparent(context.Background()); tp != "" {
		t.Errorf("no span: %q", tp)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.Join(context.Background(), tp)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
		t.Errorf("joined %v", sc)
	}
	if got := telemetry.Traceparent(ctx); got != tp {
		t.Errorf("round trip %q, want %q", got, tp)
	}
	if bad := telemetry.Join(context.Background(), "00-zz"); trace.SpanContextFromContext(bad).IsValid() {
		t.Error("a malformed traceparent was joined")
	}
	h := http.Header{}
	h.Set("Traceparent", tp)
	if sc := trace.SpanContextFromContext(telemetry.JoinHeaders(context.Background(), propagation.HeaderCarrier(h))); sc.TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
		t.Errorf("from headers: %v", sc)
	}
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&buf, nil))).With("a", 1)
	log.Info("plain")
	ctx := telemetry.Join(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	log.InfoContext(ctx, "traced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Contains(lines[0], "trace_id") || !strings.Contains(lines[1], "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") ||
		!strings.Contains(lines[1], "span_id=00f067aa0ba902b7") || !strings.Contains(lines[1], "a=1") {
		t.Errorf("log:\n%s", buf.String())
	}
}
