package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Options say who traces.
type Options struct {
	// Service is the default service.name (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win):
	// chatbot-serve, chatbot-work, chatbot-dev.
	Service string
	// Version is service.version.
	Version string
	// Logger gets the exporter's errors (a collector that cannot be reached); default
	// slog.Default().
	Logger *slog.Logger
}

// Tracing is the process's tracer provider. A nil *Tracing is tracing off: its methods work
// and do nothing.
type Tracing struct {
	tp *sdktrace.TracerProvider
}

// Configured reports whether the environment (getenv: os.Getenv) asks for traces: an OTLP endpoint or exporter
// is named, and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none says no. The
// error says what is set that this build cannot do (another exporter or protocol).
func Configured(getenv func(string) string) (bool, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	switch exp {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: chatbot exports traces with otlp only (or none)", exp)
	}
	if exp == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, nil
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if p := strings.ToLower(strings.TrimSpace(proto)); p != "" && p != "http/protobuf" {
		return false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: chatbot exports OTLP over HTTP (http/protobuf, a collector's port 4318), not %s", proto, proto)
	}
	return true, nil
}

// Setup starts tracing when the environment configures it (Configured), with an OTLP/HTTP
// exporter that reads its own OTEL_EXPORTER_OTLP_* settings (endpoint, headers, timeout,
// compression, certificate), the sampler of OTEL_TRACES_SAMPLER (default: parent-based,
// always on) and a batch processor (OTEL_BSP_*). Otherwise it returns nil, having started
// nothing. Shutdown flushes what is left.
func Setup(ctx context.Context, opt Options) (*Tracing, error) {
	on, err := Configured(os.Getenv)
	if err != nil || !on {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(opt.Service), semconv.ServiceVersion(opt.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	log := opt.Logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: exporting spans failed", "err", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{tp: tp}, nil
}

// Tracer is the tracer of the named package, nil when tracing is off.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tp.Tracer(name)
}

// Shutdown exports the spans not yet sent and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// FromProvider wraps a tracer provider made elsewhere (tests: an in-memory exporter).
func FromProvider(tp *sdktrace.TracerProvider) *Tracing { return &Tracing{tp: tp} }

var propagator = propagation.TraceContext{}

// Traceparent is the W3C traceparent of the span in ctx ("" when there is none): what
// travels in a request entry or an event to the next process.
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// Join returns ctx with the remote span of traceparent as its parent; ctx when traceparent
// is empty or malformed (a trace is never worth refusing a message for).
func Join(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// JoinHeaders returns ctx with the remote span of the traceparent and tracestate headers h
// carries (an HTTP request: the WebSocket upgrade).
func JoinHeaders(ctx context.Context, h propagation.HeaderCarrier) context.Context {
	return propagator.Extract(ctx, h)
}
