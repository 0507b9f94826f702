package cmd

import (
	"chatbot/pkg/run"
	"chatbot/pkg/web"

	"github.com/spf13/cobra"
)

func newServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the web tier: HTTP API, WebSocket chat and the web UI",
		Long: `Serve the HTTP API (POST /token, /refresh_token, DELETE /token), the WebSocket chat at /chat,
the web UI at /, and /healthz, /readyz, /metrics, /test, on server.addr.

serve keeps no state but its open sockets: run any number of them behind a load balancer, on
one Redis (or Redis Cluster). Each holds one Redis connection for notifications whatever the
number of sockets, plus the pooled command connections. Messages go to Redis Streams for the
workers (chatbot work); replies come back to whichever serve holds the user's sockets.

With auth.mode jwt, every session route and the socket need a JWT of the application's login,
sessions belong to its sub, and GET /sessions lists a user's sessions (README.md, "Put it
behind your login").

On SIGTERM or Ctrl-C it stops accepting, closes every socket with 1001 "server shutting down"
(clients reconnect elsewhere and resume with ?last_id) and exits within
server.shutdown_timeout.`,
		Example: `  chatbot serve
  chatbot serve --server.addr :9000 --redis.url redis://redis:6379/0
  chatbot serve --server.allowed_origins https://chat.example.com
  CHATBOT_REDIS_URL='redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000' chatbot serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg, cmd.ErrOrStderr())
			tracing, flush, err := startTracing(cmd.Context(), "chatbot-serve", log)
			if err != nil {
				return err
			}
			defer flush()
			st, err := openStore(cmd.Context(), cfg, log)
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
			opt := webOptions(cfg)
			opt.Store, opt.Logger, opt.Registry, opt.Auth = st, log, newRegistry(), verifier
			opt.Tracer = tracing.Tracer("chatbot/pkg/web")
			srv, err := web.New(opt)
			if err != nil {
				return err
			}
			return run.All(cmd.Context(), run.Named{Name: "serve", Service: srv})
		},
	}
}
