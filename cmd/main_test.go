package cmd

import (
	"testing"

	"chatbot/internal/redistest"
)

// TestMain stops the Redis servers the tests started (internal/redistest).
func TestMain(m *testing.M) { redistest.Main(m) }
