package cmd

import (
	"errors"
	"fmt"

	"chatbot/pkg/admin"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"

	"github.com/spf13/cobra"
)

// newUsageCommand is `chatbot usage show|grant`: a user's token usage of today, and raising
// their budget by hand.
func newUsageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show a user's token usage of today, or raise their budget",
		Long: `Read or change the token usage that limits.tokens_per_day_per_user counts, per UTC day: a
user's (auth.mode jwt: --user SUB, all their sessions) or a session's (auth.mode none: --token,
the session standing in for the user). GET /usage answers the same for the caller.`,
		Example: `  chatbot usage show --user alice
  chatbot usage grant --user alice --tokens 50000
  chatbot usage show --token 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15 --json`,
	}
	cmd.AddCommand(newUsageShowCommand(), newUsageGrantCommand())
	return cmd
}

// whoFlags are --user and --token: exactly one names whose usage.
type whoFlags struct{ user, token string }

func (f *whoFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.user, "user", "", "the user (auth.mode jwt): their JWT's sub")
	cmd.Flags().StringVar(&f.token, "token", "", "the session (auth.mode none)")
}

func (f *whoFlags) check() error {
	switch {
	case (f.user == "") == (f.token == ""):
		return errors.New("name exactly one of --user SUB (auth.mode jwt) and --token TOKEN (auth.mode none)")
	case f.token != "" && !chat.ValidToken(f.token):
		return errors.New("--token: not a session token (a UUID as POST /token gives)")
	}
	return nil
}

func newUsageShowCommand() *cobra.Command {
	var (
		who    whoFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show --user SUB | --token TOKEN",
		Short: "Show today's tokens, turns and budget of a user or a session",
		Example: `  chatbot usage show --user alice
  chatbot usage show --token 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := who.check(); err != nil {
				return err
			}
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.Usage(cmd.Context(), st, who.user, who.token)
				if err != nil {
					return usageError(err)
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	who.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newUsageGrantCommand() *cobra.Command {
	var (
		who    whoFlags
		tokens int64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "grant --user SUB | --token TOKEN --tokens N",
		Short: "Add N tokens to today's budget of a user or a session",
		Long: `Add N tokens to today's budget (limits.tokens_per_day_per_user) of a user or a session, at once
for every serve and work; a negative N takes them back. It lasts until the UTC day ends.`,
		Example: `  chatbot usage grant --user alice --tokens 50000
  chatbot usage grant --token 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15 --tokens -1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := who.check(); err != nil {
				return err
			}
			if tokens == 0 {
				return errors.New("--tokens: give the tokens to add (negative: take back)")
			}
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.Grant(cmd.Context(), st, who.user, who.token, tokens)
				if err != nil {
					return usageError(err)
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	who.add(cmd)
	cmd.Flags().Int64Var(&tokens, "tokens", 0, "tokens to add to today's budget (negative: take back)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func usageError(err error) error {
	if errors.Is(err, store.ErrSessionNotFound) {
		return errors.New("no such session (expired, deleted, or never created)")
	}
	return fmt.Errorf("usage: %w", err)
}
