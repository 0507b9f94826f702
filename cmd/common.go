package cmd

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
	"chatbot/pkg/store"
	"chatbot/pkg/telemetry"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

// loadConfig reads the configuration for cmd: defaults < file < env < flags.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	return config.Load(cmd.Flags())
}

// newRegistry is the Prometheus registry of a process, with the Go and process collectors:
// what /metrics serves for serve, work and dev. The Go collector adds the runtime's scheduler
// metrics, go_sched_latencies_seconds among them (how long goroutines waited to run: where a
// latency tail from CPU queueing shows).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// startTracing sets tracing up from the OTEL_* environment for service (chatbot-serve,
// chatbot-work, chatbot-dev): nil, and nothing started, when the environment asks for none.
// The function returned flushes what is left and stops the exporter (within 5s); call it on
// exit.
func startTracing(ctx context.Context, service string, log *slog.Logger) (*telemetry.Tracing, func(), error) {
	tr, err := telemetry.Setup(ctx, telemetry.Options{Service: service, Version: version, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	if tr != nil {
		log.Info("tracing on: exporting spans over OTLP/HTTP (OTEL_* environment)", "service", service)
	}
	return tr, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("tracing: flushing the last spans failed", "err", err)
		}
	}, nil
}

// openStore connects to the configured Redis; log gets what the start's checks warn about.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	opt := storeOptions(cfg)
	opt.Logger = log
	return store.Open(ctx, opt)
}

// authVerifier is the JWT verifier of the auth.* keys: nil with auth.mode none. Close it when
// done (with a JWKS URL it keeps the keys fresh on a goroutine).
func authVerifier(cfg *config.Config, log *slog.Logger) (*auth.Verifier, error) {
	if cfg.Auth.Mode != config.AuthJWT {
		return nil, nil
	}
	opt := authOptions(cfg)
	opt.Logger = log
	return auth.New(opt)
}

// newLogger builds the slog logger of cfg, writing to w. Attributes whose key names a secret
// are redacted whatever a caller passes. A line logged with a context that holds a span
// carries its trace_id and span_id.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactSecrets}
	if cfg.Log.Format == "text" {
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
}

func redactSecrets(_ []string, a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "token", "api_key", "apikey", "password", "authorization":
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
