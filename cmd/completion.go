package cmd

import (
	"io"

	"github.com/spf13/cobra"
)

// addCompletionCommand adds cobra's `completion` command (bash, zsh, fish, powershell) to root
// now, rather than when the command line runs, so it is part of the tree (help, docs, tests)
// and carries examples. Call it after every other command is added.
//
// cobra's own subcommands write to the output root had when they were built; these write to
// the output of the command that runs, like every other command (cmd.OutOrStdout).
func addCompletionCommand(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	completion, _, err := root.Find([]string{"completion"})
	if err != nil || completion == root {
		return
	}
	completion.Example = `  source <(chatbot completion bash)                          # this bash session
  chatbot completion bash > /etc/bash_completion.d/chatbot    # every bash session
  chatbot completion zsh > "${fpath[1]}/_chatbot"             # zsh
  chatbot completion fish > ~/.config/fish/completions/chatbot.fish`
	shells := map[string]struct {
		example string
		gen     func(w io.Writer, descriptions bool) error
	}{
		"bash": {
			"  source <(chatbot completion bash)\n  chatbot completion bash > /etc/bash_completion.d/chatbot",
			root.GenBashCompletionV2,
		},
		"zsh": {
			"  source <(chatbot completion zsh)\n  chatbot completion zsh > \"${fpath[1]}/_chatbot\"",
			func(w io.Writer, desc bool) error {
				if desc {
					return root.GenZshCompletion(w)
				}
				return root.GenZshCompletionNoDesc(w)
			},
		},
		"fish": {
			"  chatbot completion fish | source\n  chatbot completion fish > ~/.config/fish/completions/chatbot.fish",
			root.GenFishCompletion,
		},
		"powershell": {
			"  chatbot completion powershell | Out-String | Invoke-Expression",
			func(w io.Writer, desc bool) error {
				if desc {
					return root.GenPowerShellCompletionWithDesc(w)
				}
				return root.GenPowerShellCompletion(w)
			},
		},
	}
	for _, sub := range completion.Commands() {
		shell, ok := shells[sub.Name()]
		if !ok {
			continue
		}
		sub.Example = shell.example
		sub.RunE = func(cmd *cobra.Command, _ []string) error {
			noDesc, _ := cmd.Flags().GetBool("no-descriptions")
			return shell.gen(cmd.OutOrStdout(), !noDesc)
		}
	}
}
