package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"

	"github.com/spf13/cobra"
)

func newTokenCommand() *cobra.Command {
	var (
		name   string
		user   string
		ttl    time.Duration
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "token --name NAME [--user SUB]",
		Short: "Create a chat session directly in Redis and print its token",
		Long: `Create a session as POST /token would, without going through the web tier, and print its
token (or, with --json, the whole session). The name follows the same rules as POST /token:
not empty or blank, at most 100 characters after trimming.

With --user the session belongs to that user (the sub of their JWTs, 1 to 256 bytes), as if
they had made it with auth.mode jwt: only their JWTs open it, and GET /sessions lists it for
them. Without --user it belongs to nobody: with auth.mode jwt no one can open it.
limits.sessions_per_minute_per_user does not apply.`,
		Example: `  chatbot token --name ops
  chatbot token --name ops --ttl 24h --json
  chatbot token --name "Support chat" --user auth0|64b1f0c2e4
  CHATBOT_REDIS_URL=redis://redis:6379/0 chatbot token --name load-test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			valid, ok := chat.ValidName(name)
			if !ok {
				return errors.New("--name: enter a valid name (not empty or blank, at most 100 characters)")
			}
			if cmd.Flags().Changed("user") && (user == "" || len(user) > auth.MaxSubjectBytes) {
				return fmt.Errorf("--user: the sub of the user's JWTs, 1 to %d bytes, got %d", auth.MaxSubjectBytes, len(user))
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
			st, err := openStore(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer st.Close()
			var sess chat.Session
			if user != "" {
				sess, err = st.CreateSessionFor(cmd.Context(), user, valid, 0)
			} else {
				sess, err = st.CreateSession(cmd.Context(), valid)
			}
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
	cmd.Flags().StringVar(&user, "user", "", "the user (JWT sub) who owns the session (auth.mode jwt)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "idle time before the session expires (default session.ttl)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole session as JSON")
	return cmd
}
