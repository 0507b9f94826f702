package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"chatbot/pkg/admin"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

// chatbot usage grant raises a user's budget for the day, and show reads it back, as a table
// or JSON; a session (auth.mode none) is named by its short hash, never its token.
func TestUsageShowAndGrant(t *testing.T) {
	b := storetest.Single(t)
	user := "ops-test-" + uuid.NewString()
	if _, err := runCLI(t, "usage", "grant", "--user", user, "--tokens", "500", "--redis.url", b.URL,
		"--limits.tokens_per_day_per_user", "1000"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "usage", "show", "--user", user, "--json", "--redis.url", b.URL, "--limits.tokens_per_day_per_user", "1000")
	var v admin.UsageView
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Granted != 500 || v.Limit != 1500 || v.User != user {
		t.Fatalf("show --json: %s %v", out, err)
	}
	if out, err := runCLI(t, "usage", "show", "--user", user, "--redis.url", b.URL); err != nil || !strings.Contains(out, "limit") {
		t.Fatalf("show: %s %v", out, err)
	}
	tok, err := runCLI(t, "token", "--name", "a", "--redis.url", b.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	out, err = runCLI(t, "usage", "show", "--token", tok, "--redis.url", b.URL)
	if err != nil || strings.Contains(out, tok) || !strings.Contains(out, "session") {
		t.Fatalf("show --token: %s %v", out, err)
	}
	if _, err := runCLI(t, "usage", "show", "--redis.url", b.URL); err == nil {
		t.Fatal("show without --user or --token: no error")
	}
	if _, err := runCLI(t, "usage", "grant", "--token", uuid.NewString(), "--tokens", "5", "--redis.url", b.URL); err == nil ||
		!strings.Contains(err.Error(), "no such session") {
		t.Fatalf("grant to no session: %v", err)
	}
}
