// Command chatbot is a real-time AI chat backend: web tier, workers, ops tools and a
// one-process dev mode in one binary. See README.md.
package main

import (
	"os"

	"chatbot/cmd"
)

func main() {
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
