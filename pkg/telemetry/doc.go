// Package telemetry is the project's OpenTelemetry tracing: setting it up from the standard
// OTEL_* environment (OTLP over HTTP), carrying a trace across processes in a W3C traceparent,
// and the trace_id on log lines.
//
// Tracing is off unless the environment configures an exporter (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER=otlp; OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn it off). Off, Setup starts nothing and gives a nil Tracer:
// the packages that trace (pkg/web, pkg/worker) test it for nil and skip every span, and no
// traceparent is written to Redis, so tracing costs nothing when it is not used.
//
// One turn is one trace, across processes (docs/OPERATIONS.md, "A slow reply, step by step"):
// serve's span of the socket message (joining the application's trace when the upgrade or
// the message carries a traceparent) → the send script → the request entry's traceparent →
// the worker's queue wait and turn (begin, the model call with GenAI attributes, finish) →
// the events' traceparent → serve's delivery to each socket.
package telemetry
