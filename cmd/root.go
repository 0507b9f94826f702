// Package cmd is the cobra command tree of the chatbot binary: one newXCommand per file, each
// loading the config, building the pieces from pkg/ and running them until a signal.
package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"chatbot/pkg/config"

	"github.com/spf13/cobra"
)

// version is stamped at build time: -ldflags "-X chatbot/cmd.version=v1.2.3".
var version = "dev"

// Execute runs the command line and prints any error as one line on stderr.
func Execute() error {
	root := NewRootCommand()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(root.ErrOrStderr(), "chatbot:", err)
	}
	return err
}

// NewRootCommand builds the whole command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "chatbot",
		Short: "Real-time AI chat backend: web tier, workers and ops tools in one binary",
		Long: `chatbot serves chat sessions over WebSocket, hands each message to Redis Streams, and has
workers call a language model and stream the replies back, in order, with nothing lost when a
process dies.

Configuration: defaults < config.yaml (or --config FILE) < CHATBOT_* environment < flags.
Every key is also a flag: --redis.url, --session.ttl, ...`,
		Example: `  chatbot dev                          # everything in one process, for a laptop
  chatbot serve --server.addr :8080    # web tier
  chatbot work --replicas 4            # workers
  chatbot token --name ops             # create a session, print its token
  chatbot inspect queue                # the request streams and their workers
  chatbot dead list                    # requests the workers gave up on
  source <(chatbot completion bash)    # shell completion (also zsh, fish, powershell)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	config.AddFlags(root.PersistentFlags())
	root.AddCommand(
		// Each constructor lives in the file of its name.
		newDevCommand(),
		newServeCommand(),
		newTokenCommand(),
		newVersionCommand(),
		newHealthcheckCommand(),
		newBenchCommand(),
		newWorkCommand(),
		newInspectCommand(),
		newDeadCommand(),
		newUsageCommand(),
	)
	addCompletionCommand(root) // after every AddCommand
	return root
}
