package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"chatbot/internal/redistest"
)

// binary is the chatbot binary TestMain built for this run.
var binary string

// TestMain builds the chatbot binary once (with -race when the tests have it), or takes the
// one CHATBOT_E2E_BINARY names, and checks redis-server is there. A missing redis-server fails
// the run: these tests are never skipped.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := redistest.Installed(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "chatbot-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if b := os.Getenv("CHATBOT_E2E_BINARY"); b != "" {
		// Test a binary built elsewhere (a release build, a container's) instead.
		binary = b
		return m.Run()
	}
	binary = filepath.Join(dir, "chatbot")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "chatbot")
	start := time.Now()
	build := exec.Command("go", args...)
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %v: %v\n%s", args, err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s (race=%v) in %s\n", binary, raceEnabled, time.Since(start).Round(time.Millisecond))
	return m.Run()
}
