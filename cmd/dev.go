package cmd

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"chatbot/pkg/config"
	"chatbot/pkg/devredis"
	"chatbot/pkg/llm"
	"chatbot/pkg/run"
	"chatbot/pkg/store"
	"chatbot/pkg/web"
	"chatbot/pkg/worker"

	"github.com/spf13/cobra"
)

func newDevCommand() *cobra.Command {
	var demo authDemo
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process, for a laptop or a demo: web chat, API and workers",
		Long: `dev runs serve and work in one process and prints the address of the web chat. It is for
trying the project on a laptop, demos and development, not for production.

Redis: unless redis.url is given (--redis.url, CHATBOT_REDIS_URL, or a config file with a
value other than the default), dev starts an embedded in-memory Redis (miniredis) inside the
process. The embedded Redis is NOT durable: every session is lost when dev stops, and nothing
else can share it. Give redis.url to keep the data in a real Redis.

Model: the offline echo model (it answers "echo: <your message>", word by word over
llm.echo_delay), unless llm.provider is configured, for example --llm.provider openai with
CHATBOT_LLM_API_KEY, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp) as
llm.base_url.

Sign-in: with --auth-demo, dev runs auth.mode jwt as if behind an application's login, with
no identity provider: it makes an HMAC key for this run, signs JWTs for two demo users, and
prints for each the address of the web chat signed in as them
(http://localhost:8080/#access_token=<JWT>). The JWTs are valid for --auth-demo-ttl.

Every other key works as for serve and work (server.addr, limits.*, worker.*, llm.*).
Ctrl-C stops it: sockets close with 1001, replies in progress get worker.shutdown_timeout to
finish.`,
		Example: `  chatbot dev
  chatbot dev --server.addr 127.0.0.1:9000 --llm.echo_delay 2s
  chatbot dev --redis.url redis://127.0.0.1:6379/0
  chatbot dev --auth-demo
  CHATBOT_LLM_PROVIDER=openai CHATBOT_LLM_API_KEY=sk-... chatbot dev
  chatbot dev --llm.provider openai --llm.base_url http://localhost:11434/v1 --llm.model llama3.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, demo) },
	}
	cmd.Flags().BoolVar(&demo.on, "auth-demo", false, "run auth.mode jwt with a key made for this run, and print sign-in links for two demo users")
	cmd.Flags().DurationVar(&demo.ttl, "auth-demo-ttl", 8*time.Hour, "how long the demo JWTs are valid")
	return cmd
}

func runDev(cmd *cobra.Command, demo authDemo) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if demo.on {
		if err := demo.configure(cfg); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	log := newLogger(cfg, cmd.ErrOrStderr())
	tracing, flush, err := startTracing(ctx, "chatbot-dev", log)
	if err != nil {
		return err
	}
	defer flush()

	model, err := llm.New(llmConfig(cfg))
	if err != nil {
		return err
	}
	sopt := storeOptions(cfg)
	sopt.Logger = log
	redisLine := "Redis at " + config.RedactURL(cfg.Redis.URL)
	if !redisURLGiven(cmd, cfg) {
		mem, err := devredis.Start()
		if err != nil {
			return err
		}
		defer mem.Close()
		sopt = mem.StoreOptions(sopt)
		redisLine = "embedded, in memory at " + mem.Addr() +
			" (NOT durable: everything is lost when dev stops; give redis.url to use a real Redis)"
	}
	st, err := store.Open(ctx, sopt)
	if err != nil {
		return err
	}
	defer st.Close()

	verifier, err := authVerifier(cfg, log)
	if err != nil {
		return err
	}
	if verifier != nil {
		defer verifier.Close()
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on server.addr %s: %w", cfg.Server.Addr, err)
	}
	reg := newRegistry()
	wopt := webOptions(cfg)
	wopt.Store, wopt.Logger, wopt.Registry, wopt.Auth = st, log, reg, verifier
	wopt.Tracer = tracing.Tracer("chatbot/pkg/web")
	if !redisURLGiven(cmd, cfg) {
		wopt.RedisMemoryHigh = -1 // the embedded Redis has no maxmemory: nothing to guard
	}
	srv, err := web.New(wopt)
	if err != nil {
		ln.Close()
		return err
	}
	kopt := workerOptions(cfg)
	kopt.Store, kopt.Model, kopt.Logger, kopt.Registerer = st, model, log, reg
	kopt.Tracer = tracing.Tracer("chatbot/pkg/worker")
	wk, err := worker.New(kopt)
	if err != nil {
		ln.Close()
		return err
	}

	fmt.Fprintf(out, "chatbot dev: the web chat, API and workers in one process (for a laptop, not production)\n")
	fmt.Fprintf(out, "  Redis: %s\n", redisLine)
	fmt.Fprintf(out, "  Model: %s\n", describeModel(cfg))
	if demo.on {
		if err := demo.print(out, cfg, browseURL(ln.Addr())); err != nil {
			ln.Close()
			return err
		}
	} else {
		fmt.Fprintf(out, "  Open:  %s\n", browseURL(ln.Addr()))
	}
	fmt.Fprintf(out, "Press Ctrl-C to stop.\n")

	// run.All stops in reverse order: the web tier first (sockets close with 1001), then the
	// workers finish what they hold, then the store and the embedded Redis close.
	err = run.All(ctx,
		run.Named{Name: "work", Service: wk},
		run.Named{Name: "serve", Service: run.Func(func(ctx context.Context) error { return srv.Serve(ctx, ln) })},
	)
	fmt.Fprintf(out, "chatbot dev: stopped\n")
	return err
}

// redisURLGiven reports whether redis.url was given: as a flag, in the environment, or in a
// config file with a value other than the default. A config file that spells out the default,
// as the project's config.yaml does, counts as not given, so `chatbot dev` in the source tree
// still runs on nothing but itself.
func redisURLGiven(cmd *cobra.Command, cfg *config.Config) bool {
	if f := cmd.Flags().Lookup("redis.url"); f != nil && f.Changed {
		return true
	}
	if os.Getenv(config.EnvPrefix+"_REDIS_URL") != "" {
		return true
	}
	for _, k := range config.Keys {
		if k.Name == "redis.url" {
			return cfg.Redis.URL != k.Default
		}
	}
	return true
}

// describeModel says which model answers, never the API key.
func describeModel(cfg *config.Config) string {
	if cfg.LLM.Provider == llm.ProviderEcho {
		d := `echo, offline (answers "echo: <your message>"`
		if cfg.LLM.EchoDelay > 0 {
			d += ", each reply streamed over " + cfg.LLM.EchoDelay.String()
		}
		return d + "; set llm.provider to use a real model)"
	}
	return fmt.Sprintf("%s, model %s at %s", cfg.LLM.Provider, cfg.LLM.Model, config.RedactURL(cfg.LLM.BaseURL))
}

// browseURL is the address to open in a browser for a listener: localhost when it listens on
// every interface.
func browseURL(addr net.Addr) string {
	host, port := "localhost", ""
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
		if !tcp.IP.IsUnspecified() && tcp.IP != nil {
			host = tcp.IP.String()
		}
	} else {
		var err error
		if host, port, err = net.SplitHostPort(addr.String()); err != nil {
			return "http://" + addr.String() + "/"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
