package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestCompletionScripts: `chatbot completion SHELL` prints a script for that shell that knows
// the real subcommands.
func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_chatbot",
		"zsh":        "#compdef chatbot",
		"fish":       "complete -c chatbot",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			out, err := runCLI(t, "completion", shell)
			if err != nil || !strings.Contains(out, marker) {
				t.Fatalf("completion %s: err %v, output without %q:\n%.300s", shell, err, marker, out)
			}
		})
	}
}

// TestCompletionCompletesCommands asks the completion machinery what follows "chatbot " and
// gets the real commands, the way a shell does on TAB.
func TestCompletionCompletesCommands(t *testing.T) {
	out, err := runCLI(t, "__complete", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"token", "version", "healthcheck", "completion"} {
		if !strings.Contains(out, "\n"+name+"\t") && !strings.HasPrefix(out, name+"\t") {
			t.Errorf("completion of %q does not offer %s:\n%s", "chatbot ", name, out)
		}
	}
}

// TestEveryCommandHasHelpAndExamples walks the whole tree: each command a user can run says
// what it does and shows how (`chatbot X --help`).
func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	t.Parallel()
	root := NewRootCommand()
	if c, _, err := root.Find([]string{"completion"}); err != nil || c.Name() != "completion" {
		t.Fatalf("no completion command in the tree: %v", err)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.Short == "" || sub.Example == "" {
				t.Errorf("%q: Short %q, Example %q; want both", sub.CommandPath(), sub.Short, sub.Example)
			}
			walk(sub)
		}
	}
	if root.Example == "" {
		t.Error("chatbot: no Example")
	}
	walk(root)
}

func TestHelpShowsExamples(t *testing.T) {
	out, err := runCLI(t, "healthcheck", "--help")
	if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "chatbot healthcheck --url") {
		t.Fatalf("err %v, help:\n%s", err, out)
	}
}
