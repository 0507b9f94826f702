package config

import "time"

// Config is every setting of every role. The mapstructure tags are the key names (config.yaml,
// the README's configuration table); Keys (keys.go) holds their defaults and help text.
type Config struct {
	Redis   Redis   `mapstructure:"redis"`
	Server  Server  `mapstructure:"server"`
	Session Session `mapstructure:"session"`
	Stream  Stream  `mapstructure:"stream"`
	Worker  Worker  `mapstructure:"worker"`
	LLM     LLM     `mapstructure:"llm"`
	Auth    Auth    `mapstructure:"auth"`
	Limits  Limits  `mapstructure:"limits"`
	Log     Log     `mapstructure:"log"`
}

// Redis says where the one shared Redis (or Redis Cluster) is.
type Redis struct {
	URL            string        `mapstructure:"url"`
	TLSCAFile      string        `mapstructure:"tls_ca_file"`
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	CommandTimeout time.Duration `mapstructure:"command_timeout"`
	Mode           string        `mapstructure:"mode"`
}

// Server configures the web tier (`chatbot serve`).
type Server struct {
	Addr              string        `mapstructure:"addr"`
	AllowedOrigins    []string      `mapstructure:"allowed_origins"`
	FrameAncestors    []string      `mapstructure:"frame_ancestors"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	PingInterval      time.Duration `mapstructure:"ping_interval"`
	PongTimeout       time.Duration `mapstructure:"pong_timeout"`
	TrustedProxies    []string      `mapstructure:"trusted_proxies"`
	AdminAddr         string        `mapstructure:"admin_addr"`
}

// Session configures session lifetime and what is kept per session.
type Session struct {
	TTL        time.Duration `mapstructure:"ttl"`
	HistoryMax int           `mapstructure:"history_max"`
	EventsMax  int           `mapstructure:"events_max"`
	// HistoryMaxBytes and EventsMaxBytes bound the bytes kept per session.
	HistoryMaxBytes int `mapstructure:"history_max_bytes"`
	EventsMaxBytes  int `mapstructure:"events_max_bytes"`
}

// Stream configures the request streams between serve and work.
type Stream struct {
	Partitions int           `mapstructure:"partitions"`
	MaxLen     int           `mapstructure:"max_len"`
	MaxAge     time.Duration `mapstructure:"max_age"`
}

// Worker configures `chatbot work`.
type Worker struct {
	Replicas        int           `mapstructure:"replicas"`
	Concurrency     int           `mapstructure:"concurrency"`
	ClaimIdle       time.Duration `mapstructure:"claim_idle"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	DeltaInterval   time.Duration `mapstructure:"delta_interval"`
	MetricsAddr     string        `mapstructure:"metrics_addr"`
	MaxDeliveries   int           `mapstructure:"max_deliveries"`
	ConsumerIdleMax time.Duration `mapstructure:"consumer_idle_max"`
}

// LLM configures the model the workers call.
type LLM struct {
	Provider     string        `mapstructure:"provider"`
	BaseURL      string        `mapstructure:"base_url"`
	APIKey       string        `mapstructure:"api_key"`
	Model        string        `mapstructure:"model"`
	SystemPrompt string        `mapstructure:"system_prompt"`
	History      int           `mapstructure:"history"`
	MaxTokens    int           `mapstructure:"max_tokens"`
	Temperature  float64       `mapstructure:"temperature"`
	Timeout      time.Duration `mapstructure:"timeout"`
	MaxRetries   int           `mapstructure:"max_retries"`
	EchoDelay    time.Duration `mapstructure:"echo_delay"`
	SendUser     bool          `mapstructure:"send_user"`
}

// Auth says who may use the service: anyone (mode none) or the bearers of the application's
// JWTs (mode jwt), verified with an HMAC secret or the identity provider's JWKS.
type Auth struct {
	Mode        string        `mapstructure:"mode"`
	JWTSecret   string        `mapstructure:"jwt_secret"`
	JWKSURL     string        `mapstructure:"jwks_url"`
	JWKSRefresh time.Duration `mapstructure:"jwks_refresh"`
	Issuer      string        `mapstructure:"issuer"`
	Audience    string        `mapstructure:"audience"`
	Leeway      time.Duration `mapstructure:"leeway"`
}

// Auth modes.
const (
	AuthNone = "none"
	AuthJWT  = "jwt"
)

// Limits bounds what one client or session may do.
type Limits struct {
	MaxMessageBytes        int `mapstructure:"max_message_bytes"`
	MessagesPerMinute      int `mapstructure:"messages_per_minute"`
	MaxPending             int `mapstructure:"max_pending"`
	SocketsPerSession      int `mapstructure:"sockets_per_session"`
	SessionsPerMinutePerIP int `mapstructure:"sessions_per_minute_per_ip"`
	MaxRequestBytes        int `mapstructure:"max_request_bytes"`
	MaxHeaderBytes         int `mapstructure:"max_header_bytes"`
	SendQueueFrames        int `mapstructure:"send_queue_frames"`
	SendQueueBytes         int `mapstructure:"send_queue_bytes"`

	MessagesPerMinutePerIP int `mapstructure:"messages_per_minute_per_ip"`
	SocketsPerIP           int `mapstructure:"sockets_per_ip"`
	MaxSockets             int `mapstructure:"max_sockets"`
	FramesPerSecond        int `mapstructure:"frames_per_second"`
	FragmentsPerMessage    int `mapstructure:"fragments_per_message"`

	// RedisMemoryHigh is the share of Redis's maxmemory above which new work is refused (0 off).
	RedisMemoryHigh float64 `mapstructure:"redis_memory_high"`

	SessionsPerMinutePerUser int `mapstructure:"sessions_per_minute_per_user"`
	MessagesPerMinutePerUser int `mapstructure:"messages_per_minute_per_user"`
	TokensPerDayPerUser      int `mapstructure:"tokens_per_day_per_user"`
}

// Log configures log/slog.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	// AccessSample is the share of requests and socket closes logged (0 to 1).
	AccessSample float64 `mapstructure:"access_sample"`
}
