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
		"--redis.mode", "sharded",
		"--stream.max_age", "30s",
	))
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, key := range []string{"redis.url", "stream.partitions", "llm.provider", "limits.max_message_bytes", "log.level", "server.allowed_origins", "redis.mode", "stream.max_age"} {
		if !strings.Contains(msg, key) {
			t.Errorf("error does not mention %s:\n%s", key, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the password:\n%s", msg)
	}
}

// TestFrameAncestors: server.frame_ancestors takes origins (a host may start with *.) and
// refuses anything that could change the rest of the page's Content-Security-Policy.
func TestFrameAncestors(t *testing.T) {
	t.Chdir(t.TempDir())
	good := "https://app.example.com, http://localhost:3000, https://*.example.org, http://[::1]:8080, http://127.0.0.1:9000"
	c, err := config.Load(flags(t, "--server.frame_ancestors", good))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Server.FrameAncestors, "|") != strings.ReplaceAll(good, ", ", "|") {
		t.Fatalf("frame_ancestors = %q", c.Server.FrameAncestors)
	}
	for _, bad := range []string{
		"*", "'self'", "app.example.com", "https://app.example.com/", "https://app.example.com/path",
		"ftp://files.example.com", "https://a.example.com; script-src *", "https://user@app.example.com",
		"https://app.example.com:port", "https://*", "data:", "https://a.*.example.com",
	} {
		_, err := config.Load(flags(t, "--server.frame_ancestors", bad))
		if err == nil || !strings.Contains(err.Error(), "server.frame_ancestors") {
			t.Errorf("frame_ancestors %q: %v, want refused", bad, err)
		}
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

// The web tier's HTTP and socket limits load from their keys and are range-checked with the
// key's name in the error.
func TestWebLimits(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ReadHeaderTimeout != 5*time.Second || c.Server.ReadTimeout != 15*time.Second ||
		c.Server.IdleTimeout != 620*time.Second || c.Server.WriteTimeout != 10*time.Second ||
		c.Limits.MaxRequestBytes != 16<<10 || c.Limits.MaxHeaderBytes != 32<<10 ||
		c.Limits.SendQueueFrames != 256 || c.Limits.SendQueueBytes != 1<<20 {
		t.Fatalf("defaults: %+v %+v", c.Server, c.Limits)
	}
	t.Setenv("CHATBOT_LIMITS_SEND_QUEUE_FRAMES", "32")
	c, err = config.Load(flags(t, "--server.read_timeout", "2s", "--server.read_header_timeout", "1s",
		"--limits.max_request_bytes", "2048"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ReadTimeout != 2*time.Second || c.Server.ReadHeaderTimeout != time.Second ||
		c.Limits.MaxRequestBytes != 2048 || c.Limits.SendQueueFrames != 32 {
		t.Fatalf("set values not loaded: %+v %+v", c.Server, c.Limits)
	}

	_, err = config.Load(flags(t,
		"--server.read_header_timeout", "20s", // more than server.read_timeout
		"--server.idle_timeout", "0s",
		"--server.write_timeout", "-1s",
		"--limits.max_request_bytes", "100",
		"--limits.max_header_bytes", "2000000",
		"--limits.send_queue_frames", "0",
		"--limits.send_queue_bytes", "1000",
	))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"server.read_header_timeout: must not exceed server.read_timeout (15s, the time for the whole request), got 20s",
		"server.idle_timeout: must be greater than 0, got 0s",
		"server.write_timeout: must be greater than 0, got -1s",
		"limits.max_request_bytes: must be between 1024 and 1048576, got 100",
		"limits.max_header_bytes: must be between 1024 and 1048576, got 2000000",
		"limits.send_queue_frames: must be greater than 0, got 0",
		"limits.send_queue_bytes: must be at least 65536 (a socket is closed when one frame does not fit), got 1000",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := config.Load(flags(t, "--server.read_timeout", "0s")); err == nil ||
		!strings.Contains(err.Error(), "server.read_timeout: must be greater than 0, got 0s") {
		t.Errorf("server.read_timeout 0s: got %v", err)
	}
}

// The keys of the production edge and of hostile traffic: defaults, 0 turning a per-address
// limit off, and every refusal as one line that names the key.
func TestEdgeKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.PingInterval != 25*time.Second || c.Server.PongTimeout != 10*time.Second ||
		len(c.Server.TrustedProxies) != 0 || c.Server.AdminAddr != "" || c.Log.AccessSample != 1 ||
		c.Limits.SessionsPerMinutePerIP != 30 || c.Limits.MessagesPerMinutePerIP != 600 ||
		c.Limits.SocketsPerIP != 256 || c.Limits.MaxSockets != 0 || c.Limits.FramesPerSecond != 50 ||
		c.Limits.FragmentsPerMessage != 64 || c.Limits.RedisMemoryHigh != 0.9 ||
		c.Session.HistoryMaxBytes != 1<<20 || c.Session.EventsMaxBytes != 1<<20 {
		t.Fatalf("defaults: %+v %+v %+v", c.Server, c.Limits, c.Log)
	}
	t.Setenv("CHATBOT_SERVER_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.7,fd00::/8")
	c, err = config.Load(flags(t, "--limits.sessions_per_minute_per_ip", "0", "--limits.sockets_per_ip", "0",
		"--limits.messages_per_minute_per_ip", "0", "--server.admin_addr", ":9090", "--log.access_sample", "0.25",
		"--limits.redis_memory_high", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Server.TrustedProxies) != 3 || c.Limits.SessionsPerMinutePerIP != 0 || c.Limits.SocketsPerIP != 0 ||
		c.Limits.MessagesPerMinutePerIP != 0 || c.Server.AdminAddr != ":9090" || c.Log.AccessSample != 0.25 ||
		c.Limits.RedisMemoryHigh != 0 {
		t.Fatalf("set values not loaded: %+v %+v %+v", c.Server, c.Limits, c.Log)
	}
	_, err = config.Load(flags(t,
		"--server.trusted_proxies", "10.0.0.0/33,proxy.example,192.0.2.1",
		"--server.ping_interval", "0s",
		"--server.pong_timeout", "1ms",
		"--server.admin_addr", "9090",
		"--limits.sessions_per_minute_per_ip", "-1",
		"--limits.messages_per_minute_per_ip", "-2",
		"--limits.sockets_per_ip", "-3",
		"--limits.max_sockets", "-4",
		"--limits.frames_per_second", "0",
		"--limits.fragments_per_message", "0",
		"--log.access_sample", "2",
		"--limits.redis_memory_high", "1.5",
		"--session.history_max_bytes", "1000",
		"--session.events_max_bytes", "0",
	))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`server.trusted_proxies: want a CIDR (10.0.0.0/8) or an address (192.0.2.7), got "10.0.0.0/33"`,
		`server.trusted_proxies: want a CIDR (10.0.0.0/8) or an address (192.0.2.7), got "proxy.example"`,
		"server.ping_interval: must be at least 100ms, got 0s",
		"server.pong_timeout: must be at least 100ms, got 1ms",
		`server.admin_addr: want host:port or :port, got "9090"`,
		"limits.sessions_per_minute_per_ip: must not be negative (0 turns the limit off), got -1",
		"limits.messages_per_minute_per_ip: must not be negative (0 turns the limit off), got -2",
		"limits.sockets_per_ip: must not be negative (0 turns the limit off), got -3",
		"limits.max_sockets: must not be negative (0 is 90% of the open-file limit), got -4",
		"limits.frames_per_second: must be greater than 0, got 0",
		"limits.fragments_per_message: must be greater than 0, got 0",
		"log.access_sample: must be between 0 and 1 (the share of requests logged), got 2",
		"limits.redis_memory_high: must be between 0 and 1 (a share of Redis maxmemory; 0 turns the guard off), got 1.5",
		"session.history_max_bytes: must be at least 65536 (a turn, a message and its reply, must fit), got 1000",
		"session.events_max_bytes: must be at least 65536 (a turn, a message and its reply, must fit), got 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "192.0.2.1") {
		t.Errorf("a valid proxy refused:\n%v", err)
	}
	if _, err := config.Load(flags(t, "--server.admin_addr", ":8080")); err == nil ||
		!strings.Contains(err.Error(), "server.admin_addr: must differ from server.addr (:8080)") {
		t.Errorf("admin_addr = addr: got %v", err)
	}
}

// The auth.* keys: defaults, a secret from the environment, and every refusal as one line
// that names the key and never the secret.
func TestAuthKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Mode != config.AuthNone || c.Auth.Leeway != 30*time.Second || c.Auth.JWKSRefresh != 5*time.Minute ||
		c.Limits.SessionsPerMinutePerUser != 30 || c.Limits.MessagesPerMinutePerUser != 120 {
		t.Fatalf("defaults: %+v %+v", c.Auth, c.Limits)
	}
	const secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
	t.Setenv("CHATBOT_AUTH_JWT_SECRET", secret)
	c, err = config.Load(flags(t, "--auth.mode", "jwt", "--auth.leeway", "0s", "--limits.messages_per_minute_per_user", "7"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.JWTSecret != secret || c.Auth.Leeway != 0 || c.Limits.MessagesPerMinutePerUser != 7 {
		t.Fatalf("set values not loaded: %+v %+v", c.Auth, c.Limits)
	}
	t.Setenv("CHATBOT_AUTH_JWT_SECRET", "")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth.mode", "jwt"}, "auth.mode: jwt needs exactly one of auth.jwt_secret (HMAC) and auth.jwks_url (public keys), got neither"},
		{[]string{"--auth.mode", "jwt", "--auth.jwt_secret", secret, "--auth.jwks_url", "https://idp/jwks", "--auth.issuer", "x"},
			"auth.mode: jwt needs exactly one of auth.jwt_secret (HMAC) and auth.jwks_url (public keys), got both"},
		{[]string{"--auth.mode", "jwt", "--auth.jwt_secret", "short-s3cr3t"}, "auth.jwt_secret: must be at least 32 bytes, got 12"},
		{[]string{"--auth.mode", "jwt", "--auth.jwks_url", "https://idp.example.com/jwks"}, "auth.issuer: is required with auth.jwks_url (the iss of the provider's tokens)"},
		{[]string{"--auth.mode", "jwt", "--auth.jwks_url", "idp/jwks", "--auth.issuer", "x"}, `auth.jwks_url: want https://host/path, got "idp/jwks"`},
		{[]string{"--auth.mode", "oauth"}, `auth.mode: want none or jwt, got "oauth"`},
		{[]string{"--auth.jwt_secret", secret}, "auth.jwt_secret: is set but auth.mode is none, so nothing would check JWTs: set auth.mode to jwt, or unset auth.jwt_secret"},
		{[]string{"--auth.mode", "jwt", "--auth.jwt_secret", secret, "--auth.leeway", "-1s"}, "auth.leeway: must be between 0s and 10m, got -1s"},
		{[]string{"--auth.mode", "jwt", "--auth.jwt_secret", secret, "--auth.jwks_refresh", "10ms"}, "auth.jwks_refresh: must be at least 1s, got 10ms"},
		{[]string{"--limits.sessions_per_minute_per_user", "0"}, "limits.sessions_per_minute_per_user: must be greater than 0, got 0"},
	} {
		_, err := config.Load(flags(t, c.args...))
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: got %v, want exactly %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%v: the error shows the secret: %v", c.args, err)
		}
	}
}
