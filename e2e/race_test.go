//go:build race

package e2e

// raceEnabled builds the chatbot binary with -race when the tests run with it, so a data race
// in a serve or work process fails the test that saw it.
const raceEnabled = true
