package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"chatbot/pkg/admin"
	"chatbot/pkg/chat"
	"chatbot/pkg/config"
	"chatbot/pkg/store"

	"github.com/spf13/cobra"
)

// newInspectCommand is `chatbot inspect session|queue`: read-only views of a live system.
func newInspectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Look at a session or the request queue in Redis (read-only)",
		Long: `Read what Redis holds now about one session (inspect session TOKEN) or the request streams
and their workers (inspect queue), and print it as tables or, with --json, as JSON. Nothing is
written: a session's TTL does not slide, no request moves.

docs/OPERATIONS.md, "A slow reply, step by step", shows how they answer "why is my reply late".`,
		Example: `  chatbot inspect session 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15
  chatbot inspect queue
  chatbot inspect queue --json | jq '.partitions[] | {partition, lag, pending}'`,
	}
	cmd.AddCommand(newInspectSessionCommand(), newInspectQueueCommand())
	return cmd
}

func newInspectSessionCommand() *cobra.Command {
	var (
		events int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "session TOKEN",
		Short: "Show a session: what it waits for, its pending messages, lease holder and last events",
		Long: `Show the session TOKEN as Redis holds it: its state in words (idle, waiting for a worker,
back in line for a slot, being answered), messages queued and answered, the messages waiting for a reply, the worker
attempt holding its lease (consumer host-pid-N) and for how long, its newest events (what its
sockets were sent), and usage when recorded. Read-only: the session's TTL does not slide.

The output names the session by the short hash the logs use (printf %s "$TOKEN" | sha256sum |
cut -c1-8), never by its token, and shows no other session.`,
		Example: `  chatbot inspect session 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15
  chatbot inspect session 3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a15 --events 50 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !chat.ValidToken(args[0]) {
				return errors.New("TOKEN: not a session token (a UUID as POST /token gives)")
			}
			if events < 0 {
				return fmt.Errorf("--events: must be 0 or more, got %d", events)
			}
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.Session(cmd.Context(), st, args[0], events)
				if err != nil {
					return err
				}
				if !v.Exists {
					if asJSON {
						_ = output(cmd.OutOrStdout(), v, true)
					}
					return fmt.Errorf("session %s: %s", v.Session, v.State)
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	cmd.Flags().IntVar(&events, "events", 10, "newest events to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return cmd
}

func newInspectQueueCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show each request stream: length, lag, pending, consumers and their idle time",
		Long: `Show each request stream chat:requests:{p} and the workers group on it: entries kept,
lag (requests not yet delivered to any consumer), pending (delivered, not yet acknowledged), the
age of the oldest request waiting and of the oldest pending, and every consumer with its pending
count and idle time (a consumer idle much longer than worker.claim_idle with requests pending
is a worker that died: another takes its requests over). Ages are counted on the Redis server's
clock. Also the number of dead letters. Read-only.`,
		Example: `  chatbot inspect queue
  chatbot inspect queue --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(st *store.Store) error {
				v, err := admin.Queue(cmd.Context(), st)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), v, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return cmd
}

// withStore loads the configuration, opens the store and runs fn with it.
func withStore(cmd *cobra.Command, fn func(*store.Store) error) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	return withConfigStore(cmd, cfg, fn)
}

func withConfigStore(cmd *cobra.Command, cfg *config.Config, fn func(*store.Store) error) error {
	st, err := openStore(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// textView is a view that prints itself for a person.
type textView interface{ WriteText(io.Writer) error }

// output prints v as indented JSON or as its text.
func output(w io.Writer, v textView, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.WriteText(w)
}
