package cmd

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/web"
	"chatbot/pkg/worker"

	"github.com/spf13/pflag"
)

// Every configuration key, set to a value other than its default, reaches its option: the
// packages' own tests check each option does what its key says.
func TestOptionsFromConfig(t *testing.T) {
	set := map[string]string{
		"redis.url":                 "rediss://10.0.0.1:7000/2",
		"redis.tls_ca_file":         "/etc/ca.pem",
		"redis.connect_timeout":     "6s",
		"redis.command_timeout":     "7s",
		"redis.mode":                "cluster",
		"session.ttl":               "2h",
		"session.history_max":       "11",
		"session.events_max":        "12",
		"session.history_max_bytes": "100000",
		"session.events_max_bytes":  "200000",
		"stream.partitions":         "13",
		"stream.max_len":            "14",
		"stream.max_age":            "15h",

		"server.addr":                ":9000",
		"server.allowed_origins":     "https://a.example,https://b.example",
		"server.frame_ancestors":     "https://app.example,https://*.app.example",
		"server.shutdown_timeout":    "3s",
		"server.read_header_timeout": "4s",
		"server.read_timeout":        "8s",
		"server.idle_timeout":        "9s",
		"server.write_timeout":       "11s",

		"limits.max_message_bytes":          "15",
		"limits.messages_per_minute":        "16",
		"limits.max_pending":                "17",
		"limits.sockets_per_session":        "18",
		"limits.sessions_per_minute_per_ip": "19",
		"limits.max_request_bytes":          "2048",
		"limits.max_header_bytes":           "4096",
		"limits.send_queue_frames":          "20",
		"limits.send_queue_bytes":           "100000",

		"worker.replicas":          "2",
		"worker.concurrency":       "21",
		"worker.claim_idle":        "22s",
		"worker.shutdown_timeout":  "23s",
		"worker.delta_interval":    "29ms",
		"worker.max_deliveries":    "7",
		"worker.consumer_idle_max": "2h",
		"worker.metrics_addr":      ":9091", // cmd's own: the probe server of work

		"llm.provider":      "openai",
		"llm.base_url":      "http://10.0.0.2:8000/v1",
		"llm.api_key":       "sk-test",
		"llm.model":         "m",
		"llm.system_prompt": "be brief",
		"llm.history":       "3",
		"llm.max_tokens":    "24",
		"llm.temperature":   "0.5",
		"llm.timeout":       "25s",
		"llm.max_retries":   "4",
		"llm.echo_delay":    "26ms",
		"llm.send_user":     "false",

		"auth.mode":         "jwt", // cmd's own: whether authVerifier makes a verifier
		"auth.jwt_secret":   "",    // the default: a secret and a JWKS URL exclude each other
		"auth.jwks_url":     "https://idp.example/jwks.json",
		"auth.jwks_refresh": "6m",
		"auth.issuer":       "https://idp.example/",
		"auth.audience":     "chat",
		"auth.leeway":       "31s",

		"server.ping_interval":              "29s",
		"server.pong_timeout":               "30s",
		"server.trusted_proxies":            "10.0.0.0/8,192.0.2.7",
		"server.admin_addr":                 ":9092",
		"log.access_sample":                 "0.5",
		"limits.messages_per_minute_per_ip": "31",
		"limits.sockets_per_ip":             "0", // 0 is off: a negative option
		"limits.max_sockets":                "32",
		"limits.frames_per_second":          "33",
		"limits.fragments_per_message":      "34",
		"limits.redis_memory_high":          "0.75",

		"limits.sessions_per_minute_per_user": "27",
		"limits.messages_per_minute_per_user": "28",
		"limits.tokens_per_day_per_user":      "35",

		"log.level":  "debug", // cmd's own: newLogger
		"log.format": "text",
	}
	for _, k := range config.Keys {
		if _, ok := set[k.Name]; !ok {
			t.Errorf("key %s is not set by this test: add it, and map it to its option", k.Name)
		}
	}
	empty := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(empty, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", empty}
	for k, v := range set {
		args = append(args, "--"+k+"="+v) // = : a bool flag takes no separate value
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"store", storeOptions(cfg), store.Options{
			URL: "rediss://10.0.0.1:7000/2", TLSCAFile: "/etc/ca.pem",
			ConnectTimeout: 6 * time.Second, CommandTimeout: 7 * time.Second, Mode: store.ModeCluster,
			SessionTTL: 2 * time.Hour, HistoryMax: 11, EventsMax: 12, Partitions: 13, StreamMaxLen: 14, StreamMaxAge: 15 * time.Hour,
			HistoryMaxBytes: 100000, EventsMaxBytes: 200000,
			// llm.max_tokens and "be brief"'s estimate; 5 attempts of llm.timeout and claim_idle.
			Budget: store.Budget{TokensPerDay: 35, ReplyTokens: 24 + 2, Hold: 5*25*time.Second + 22*time.Second},
		}},
		{"web", webOptions(cfg), web.Options{
			Addr: ":9000", AllowedOrigins: []string{"https://a.example", "https://b.example"},
			FrameAncestors:  []string{"https://app.example", "https://*.app.example"},
			ShutdownTimeout: 3 * time.Second, ReadHeaderTimeout: 4 * time.Second, ReadTimeout: 8 * time.Second,
			IdleTimeout: 9 * time.Second, WriteTimeout: 11 * time.Second,
			MaxMessageBytes: 15, MessagesPerMinute: 16, MaxPending: 17, SocketsPerSession: 18,
			SessionsPerMinutePerIP: 19, MaxRequestBytes: 2048, MaxHeaderBytes: 4096,
			SendQueueFrames: 20, SendQueueBytes: 100000,
			PingInterval: 29 * time.Second, PongTimeout: 30 * time.Second,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")},
			AdminAddr:      ":9092", AccessSample: 0.5,
			MessagesPerMinutePerIP: 31, SocketsPerIP: -1, MaxSockets: 32, FramesPerSecond: 33, FragmentsPerMessage: 34,
			RedisMemoryHigh:          0.75,
			SessionsPerMinutePerUser: 27, MessagesPerMinutePerUser: 28,
		}},
		{"auth", authOptions(cfg), auth.Options{
			Secret: []byte(""), JWKSURL: "https://idp.example/jwks.json", Issuer: "https://idp.example/",
			Audience: "chat", Leeway: 31 * time.Second, JWKSRefresh: 6 * time.Minute,
		}},
		{"worker", workerOptions(cfg), worker.Options{
			Replicas: 2, Concurrency: 21, ClaimIdle: 22 * time.Second, ShutdownTimeout: 23 * time.Second, DeltaInterval: 29 * time.Millisecond,
			MaxDeliveries: 7, ConsumerIdleMax: 2 * time.Hour,
			SystemPrompt: "be brief", History: 3, Retry: llm.Retry{MaxRetries: 4, Timeout: 25 * time.Second}, ModelName: "m",
		}},
		{"llm", llmConfig(cfg), llm.Config{
			Provider: "openai", BaseURL: "http://10.0.0.2:8000/v1", APIKey: "sk-test", Model: "m",
			MaxTokens: 24, Temperature: 0.5, EchoDelay: 26 * time.Millisecond,
			Calls: 2 * 21, // worker.replicas × worker.concurrency
		}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s options\n got %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	if cfg.Worker.MetricsAddr != ":9091" || cfg.Log.Level != "debug" || cfg.Log.Format != "text" || cfg.Auth.Mode != config.AuthJWT {
		t.Errorf("cmd's own keys: %+v %+v %s", cfg.Worker, cfg.Log, cfg.Auth.Mode)
	}
}
