package cmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCommand is a probe for container runtimes whose image has no curl or wget (the
// distroless image): `chatbot healthcheck` exits 0 when the local serve answers /readyz with 200.
func newHealthcheckCommand() *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a running serve is ready (a container health check without curl)",
		Long: `GET the readiness route of a running serve and exit 0 on HTTP 200, 1 otherwise, printing
one line either way. The image has no shell, curl or wget, so container health checks
(docker compose, HEALTHCHECK) run this instead.

Without --url it asks /readyz on the loopback address at the port of server.addr, read from the
same configuration as serve (config.yaml, CHATBOT_* environment, flags), so it follows
CHATBOT_SERVER_ADDR without being told.`,
		Example: `  chatbot healthcheck
  chatbot healthcheck --url http://127.0.0.1:8080/healthz --timeout 1s
  docker compose exec serve /chatbot healthcheck`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout: must be greater than 0, got %s", timeout)
			}
			if target == "" {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				addr := cfg.Server.Addr
				if cfg.Server.AdminAddr != "" {
					addr = cfg.Server.AdminAddr // /readyz is served there only
				}
				if target, err = readyURL(addr); err != nil {
					return err
				}
			}
			status, err := probe(cmd.Context(), target, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: GET %s: %s\n", target, status)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "URL to GET (default http://127.0.0.1:<port of server.addr>/readyz)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// readyURL is the /readyz URL of a serve listening on addr, reached over loopback when addr
// listens on every interface.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server.addr %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe GETs target and returns its status when it is 200; anything else is an error that says
// what came back.
func probe(ctx context.Context, target string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("healthcheck %s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode != http.StatusOK {
		detail := strings.Join(strings.Fields(string(body)), " ")
		return "", fmt.Errorf("healthcheck: GET %s: %s %s", target, resp.Status, detail)
	}
	return resp.Status, nil
}
