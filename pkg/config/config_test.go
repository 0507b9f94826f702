package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/config"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./config.yaml
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.URL != "redis://127.0.0.1:6379/0" || c.Server.Addr != ":8080" || c.Session.TTL != time.Hour ||
		c.Stream.Partitions != 4 || c.Worker.ClaimIdle != 15*time.Second || c.LLM.Provider != "echo" ||
		c.Limits.MaxMessageBytes != 4096 || c.Log.Format != "json" || len(c.Server.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestPrecedence proves defaults < file < CHATBOT_* env < flags, one key per layer boundary.
func TestPrecedence(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeFile(t, `
server:
  addr: ":1111"
session:
  ttl: 2h
stream:
  partitions: 7
limits:
  max_pending: 5
`)
	t.Setenv("CHATBOT_SESSION_TTL", "3h")
	t.Setenv("CHATBOT_STREAM_PARTITIONS", "9")
	t.Setenv("CHATBOT_SERVER_ALLOWED_ORIGINS", "https://a.example, https://b.example")
	c, err := config.Load(flags(t, "--config", file, "--stream.partitions", "11"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"limits.max_pending (default only)", c.Limits.MaxMessageBytes, 4096},
		{"server.addr (file over default)", c.Server.Addr, ":1111"},
		{"limits.max_pending (file)", c.Limits.MaxPending, 5},
		{"session.ttl (env over file)", c.Session.TTL, 3 * time.Hour},
		{"stream.partitions (flag over env)", c.Stream.Partitions, 11},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.key, ch.got, ch.want)
		}
	}
	if strings.Join(c.Server.AllowedOrigins, "|") != "https://a.example|https://b.example" {
		t.Errorf("allowed_origins from env = %q", c.Server.AllowedOrigins)
	}
}

func TestEnvReachesEveryKey(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CHATBOT_LLM_API_KEY", "sk-test")
	t.Setenv("CHATBOT_REDIS_TLS_CA_FILE", "/ca.pem")
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LLM.APIKey != "sk-test" || c.Redis.TLSCAFile != "/ca.pem" {
		t.Fatalf("env not applied: %q %q", c.LLM.APIKey, c.Redis.TLSCAFile)
	}
}

func TestDefaultFileInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("log:\n  level: debug\n"), 0o600)
	c, err := config.Load(flags(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" {
		t.Fatalf("./config.yaml not read: %q", c.Log.Level)
	}
}

func TestUnknownKeysReported(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeFile(t, "redis:\n  ulr: x\nsesion:\n  ttl: 1h\n")
	_, err := config.Load(flags(t, "--config", file))
	if err == nil || !strings.Contains(err.Error(), `"redis.ulr"`) || !strings.Contains(err.Error(), `"sesion.ttl"`) {
		t.Fatalf("want both unknown keys reported, got %v", err)
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := config.Load(flags(t, "--config", "/nonexistent/chatbot.yaml"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/chatbot.yaml") {
		t.Fatalf("got %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := config.Load(flags(t,
		"--redis.url", "http://user:hunter2@x",
		"--stream.partitions", "0",
		"--llm.provider", "gpt",
		"--limits.max_message_bytes", "-1",
		"--log.level", "loud",
		"--server.allowed_origins", "not a url",
	))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, key := range []string{"redis.url", "stream.partitions", "llm.provider", "limits.max_message_bytes", "log.level", "server.allowed_origins"} {
		if !strings.Contains(msg, key) {
			t.Errorf("error does not mention %s:\n%s", key, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the password:\n%s", msg)
	}
}

func TestBadValueType(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CHATBOT_SESSION_TTL", "forever")
	_, err := config.Load(nil)
	if err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("got %v", err)
	}
}
