package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"chatbot/pkg/chat"

	"github.com/spf13/cobra"
)

func newTokenCommand() *cobra.Command {
	var (
		name   string
		ttl    time.Duration
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "token --name NAME",
		Short: "Create a chat session directly in Redis and print its token",
		Long: `Create a session as POST /token would, without going through the web tier, and print its
token (or, with --json, the whole session). The name follows the same rules as POST /token:
not empty or blank, at most 100 characters after trimming.`,
		Example: `  chatbot token --name ops
  chatbot token --name ops --ttl 24h --json
  CHATBOT_REDIS_URL=redis://redis:6379/0 chatbot token --name load-test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			valid, ok := chat.ValidName(name)
			if !ok {
				return errors.New("--name: enter a valid name (not empty or blank, at most 100 characters)")
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if ttl != 0 {
				if ttl < time.Second {
					return fmt.Errorf("--ttl: must be at least 1s, got %s", ttl)
				}
				cfg.Session.TTL = ttl
			}
			st, err := openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			sess, err := st.CreateSession(cmd.Context(), valid)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(sess)
			}
			fmt.Fprintln(cmd.OutOrStdout(), sess.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the session's name (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "idle time before the session expires (default session.ttl)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole session as JSON")
	return cmd
}
