package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"chatbot/pkg/defaults"
	"chatbot/pkg/llm"
	"chatbot/pkg/run"
	"chatbot/pkg/store"
	"chatbot/pkg/worker"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

// workAliases are the short flags of work and the configuration keys they set.
var workAliases = [][2]string{{"replicas", "worker.replicas"}, {"concurrency", "worker.concurrency"}}

func newWorkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "work",
		Short: "Run workers: answer the queued messages with the model, streaming the replies",
		Long: `work runs --replicas consumers (worker.replicas) of the "workers" consumer group on every
request stream chat:requests:{p}, each working on up to --concurrency messages at once
(worker.concurrency). Run it on any number of hosts against the Redis (or Redis Cluster) that
serve uses: each session is answered by one worker at a time, in the order its messages were
sent, with the system prompt and the last llm.history turns as context.

A worker that dies leaves its requests pending; another takes them over after
worker.claim_idle and answers each exactly once (the new attempt's first delta says
"restart": true). Model errors and timeouts (llm.timeout) are retried llm.max_retries times
with backoff; then the user gets an error frame and the request is copied to chat:dead.

On SIGTERM or Ctrl-C it stops reading, gives the replies in progress worker.shutdown_timeout to
finish, hands the rest back for another worker to take at once, and exits 0.

With worker.metrics_addr set it serves /metrics (Prometheus), /healthz (200 while the process
runs) and /readyz (200 while Redis answers, else 503) there.

Models: llm.provider echo (offline: "echo: <message>", streamed over llm.echo_delay) or openai:
any OpenAI-compatible /v1/chat/completions (OpenAI, Hugging Face's router, vLLM, Ollama,
llama.cpp, LM Studio) at llm.base_url, with llm.model and CHATBOT_LLM_API_KEY.`,
		Example: `  chatbot work --replicas 4 --concurrency 32
  chatbot work --redis.url redis://redis:6379/0 --worker.metrics_addr :9091
  CHATBOT_LLM_PROVIDER=openai CHATBOT_LLM_API_KEY=sk-... chatbot work --llm.model gpt-4o-mini
  chatbot work --llm.provider openai --llm.base_url https://router.huggingface.co/v1 \
      --llm.model meta-llama/Llama-3.1-8B-Instruct      # CHATBOT_LLM_API_KEY=hf_...
  chatbot work --llm.provider openai --llm.base_url http://localhost:11434/v1 --llm.model llama3.2
  chatbot work --llm.provider openai --llm.base_url http://vllm:8000/v1 --llm.model Qwen/Qwen2.5-7B-Instruct`,
		Args: cobra.NoArgs,
		RunE: runWork,
	}
	cmd.Flags().Int("replicas", defaults.WorkerReplicas, "consumers in this process (short for --worker.replicas)")
	cmd.Flags().Int("concurrency", defaults.WorkerConcurrency, "requests in flight per consumer (short for --worker.concurrency)")
	return cmd
}

// applyWorkAliases copies --replicas and --concurrency to their configuration keys' flags, so
// they rank as flags above the file and the environment. Both spellings with different values
// is an error.
func applyWorkAliases(cmd *cobra.Command) error {
	fs := cmd.Flags()
	for _, a := range workAliases {
		short, long := fs.Lookup(a[0]), fs.Lookup(a[1])
		if short == nil || long == nil || !short.Changed {
			continue
		}
		if long.Changed && long.Value.String() != short.Value.String() {
			return fmt.Errorf("--%s %s and --%s %s disagree: give one of them", a[0], short.Value, a[1], long.Value)
		}
		if err := fs.Set(a[1], short.Value.String()); err != nil {
			return fmt.Errorf("--%s: %w", a[0], err)
		}
	}
	return nil
}

func runWork(cmd *cobra.Command, _ []string) error {
	if err := applyWorkAliases(cmd); err != nil {
		return err
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	log := newLogger(cfg, cmd.ErrOrStderr())
	tracing, flush, err := startTracing(ctx, "chatbot-work", log)
	if err != nil {
		return err
	}
	defer flush()
	model, err := llm.New(llmConfig(cfg))
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := newRegistry()
	opt := workerOptions(cfg)
	opt.Store, opt.Model, opt.Logger, opt.Registerer = st, model, log, reg
	opt.Tracer = tracing.Tracer("chatbot/pkg/worker")
	wk, err := worker.New(opt)
	if err != nil {
		return err
	}
	services := []run.Named{}
	if cfg.Worker.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.Worker.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on worker.metrics_addr %s: %w", cfg.Worker.MetricsAddr, err)
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
		services = append(services, run.Named{Name: "metrics", Service: probeServer(ln, st, reg, log)})
	}
	log.Info("model", "model", describeModel(cfg))
	// run.All stops in reverse order: the workers drain first, /metrics stays up meanwhile.
	services = append(services, run.Named{Name: "work", Service: wk})
	return run.All(ctx, services...)
}

// probeServer serves /metrics, /healthz and /readyz of a worker process on ln until ctx ends.
func probeServer(ln net.Listener, st *store.Store, reg *prometheus.Registry, log *slog.Logger) run.Func {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(r.Context()); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		select {
		case err := <-done:
			return fmt.Errorf("serve worker.metrics_addr: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
