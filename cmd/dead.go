package cmd

import (
	"fmt"
	"time"

	"chatbot/pkg/admin"
	"chatbot/pkg/store"

	"github.com/spf13/cobra"
)

// newDeadCommand is `chatbot dead list|show|replay|purge`: the requests workers gave up on.
func newDeadCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dead",
		Short: "List, show, replay or purge dead letters (requests the workers gave up on)",
		Long: `A request the workers give up on (the model failed past llm.max_retries, Redis refused the
session's data, an entry that cannot be read) is copied to the stream chat:dead with the error,
and the user was told (an error frame). list and show only read; replay and purge change
chat:dead, and purge asks for --yes.

Sessions are named by the short hash the logs use, never by their token.`,
		Example: `  chatbot dead list
  chatbot dead show 1717171717171-0
  chatbot dead replay 1717171717171-0
  chatbot dead purge --older-than 168h --yes`,
	}
	cmd.AddCommand(newDeadListCommand(), newDeadShowCommand(), newDeadReplayCommand(), newDeadPurgeCommand())
	return cmd
}

func newDeadListCommand() *cobra.Command {
	var (
		after  string
		count  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first (read-only)",
		Example: `  chatbot dead list
  chatbot dead list --count 100 --after 1717171717171-0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 1 {
				return fmt.Errorf("--count: must be 1 or more, got %d", count)
			}
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.DeadList(cmd.Context(), st, after, count)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "list the dead letters after this ID (the next page)")
	cmd.Flags().IntVar(&count, "count", 20, "dead letters to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func newDeadShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one dead letter with every field (read-only)",
		Example: `  chatbot dead show 1717171717171-0 --json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.DeadShow(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDeadReplayCommand() *cobra.Command {
	var keep, asJSON bool
	cmd := &cobra.Command{
		Use:   "replay ID",
		Short: "Queue a dead letter for its session again, so the user gets an answer once",
		Long: `Queue the dead letter ID for its session again, then remove it from chat:dead (--keep leaves
it). The user is answered once:

  - a message still waiting for its reply (its request was given up on while the session kept
    it): the request is queued again, and a worker answers the message;
  - a message answered with an error (model_error): its text is sent again as a new message of
    the session (client_id "replay-ID", so a second replay sends nothing), and a worker answers
    it; the user's sockets get its ack and the reply.

A message that has a reply already, a session that is gone, or an entry naming no session is
refused, and the dead letter kept. The session's rate and pending limits do not apply.`,
		Example: `  chatbot dead replay 1717171717171-0`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(st *store.Store) error {
				r, err := admin.Replay(cmd.Context(), st, args[0], keep)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), r, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the dead letter in chat:dead")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDeadPurgeCommand() *cobra.Command {
	var (
		olderThan time.Duration
		yes       bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "purge [ID...] --yes",
		Short: "Delete dead letters: those named, or every one (at least --older-than old)",
		Long: `Delete the dead letters named, or every dead letter when none is named, keeping those younger
than --older-than. Without --yes it only says how many it would delete, and exits 1.`,
		Example: `  chatbot dead purge --older-than 168h
  chatbot dead purge --older-than 168h --yes
  chatbot dead purge 1717171717171-0 1717171717999-0 --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if olderThan < 0 {
				return fmt.Errorf("--older-than: must be 0 or more, got %s", olderThan)
			}
			return withStore(cmd, func(st *store.Store) error {
				plan, err := admin.PlanPurge(cmd.Context(), st, args, olderThan)
				if err != nil {
					return err
				}
				if !yes {
					return fmt.Errorf("purge would delete %d dead letters from chat:dead: run it again with --yes to delete them", len(plan.IDs))
				}
				done, err := admin.Purge(cmd.Context(), st, plan)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), done, asJSON)
			})
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "only dead letters at least this old (0: any age)")
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
