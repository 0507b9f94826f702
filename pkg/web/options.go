package web

import (
	"log/slog"
	"net/netip"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/defaults"
	"chatbot/pkg/store"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Options configure a Server. Each field with a configuration key names it; zero values
// take the key's default (package defaults), given with each field. A limit whose key turns
// it off with 0 is off here when negative.
type Options struct {
	// Store is the Redis layer; required.
	Store *store.Store
	// Logger gets the server's logs (never a token); default slog.Default().
	Logger *slog.Logger
	// Registry gets the server's metrics and is what /metrics serves; default a new, empty
	// registry (a program adds the Go and process collectors to the one it passes).
	Registry *prometheus.Registry
	// Tracer traces messages and the delivery of replies (trace.go; telemetry.Tracing.Tracer);
	// nil: no spans, and no traceparent is written to Redis.
	Tracer trace.Tracer

	// Addr is where Run listens (server.addr). Default ":8080".
	Addr string
	// AllowedOrigins are browser origins allowed besides the same origin, for the WebSocket
	// and CORS (server.allowed_origins): "scheme://host[:port]", a host pattern such as
	// "*.example.com", or "*" for any.
	AllowedOrigins []string
	// FrameAncestors are the origins whose pages may show the web chat (GET /) in a frame,
	// besides the same origin (server.frame_ancestors): "scheme://host[:port]", the host may
	// start with "*.". Default none: only pages of the chat's own origin may frame it.
	FrameAncestors []string
	// ShutdownTimeout bounds the drain on shutdown (server.shutdown_timeout). Default 10s.
	ShutdownTimeout time.Duration

	// MaxMessageBytes is the largest client frame (limits.max_message_bytes). Default 4096.
	MaxMessageBytes int
	// MessagesPerMinute per session (limits.messages_per_minute). Default 60.
	MessagesPerMinute int
	// MaxPending unanswered messages per session (limits.max_pending). Default 16.
	MaxPending int
	// SocketsPerSession open on this process (limits.sockets_per_session). Default 8.
	SocketsPerSession int
	// SessionsPerMinutePerIP is POST /token per client address, IPv6 per /64
	// (limits.sessions_per_minute_per_ip). Default 30; negative: off.
	SessionsPerMinutePerIP int
	// MessagesPerMinutePerIP is messages per client address, IPv6 per /64, all its sessions
	// together, counted in this process before any Redis call
	// (limits.messages_per_minute_per_ip). Default 600; negative: off.
	MessagesPerMinutePerIP int
	// SocketsPerIP is open sockets per client address, IPv6 per /64; more are refused with
	// 429 before the upgrade (limits.sockets_per_ip). Default 256; negative: off.
	SocketsPerIP int
	// MaxSockets is open sockets in this process; more are refused with 503 before the
	// upgrade, while /healthz, /readyz and /test keep answering (limits.max_sockets).
	// Default 90% of the open-file limit (RLIMIT_NOFILE); negative: off.
	MaxSockets int
	// FramesPerSecond is what a socket may send, every frame counted (control and
	// continuation frames too), in bursts of twice as many; more: close 1008 "Too many
	// frames" (limits.frames_per_second). Default 50.
	FramesPerSecond int
	// FragmentsPerMessage is how many frames one client message may come in; more: close
	// 1008 (limits.fragments_per_message). Default 64.
	FragmentsPerMessage int
	// RedisMemoryHigh is the share of Redis's maxmemory (of its fullest node) above which new
	// sessions get 503 and new messages the error frame unavailable, not kept, while replies in
	// flight finish (limits.redis_memory_high). Redis's INFO memory is read every
	// MemoryCheckInterval; without a maxmemory the guard is off. Default 0.9; negative: off.
	RedisMemoryHigh float64
	// MemoryCheckInterval is how often RedisMemoryHigh's guard reads Redis's memory. Default 1s.
	MemoryCheckInterval time.Duration

	// SendQueueFrames is how many frames may wait for a slow socket before it is closed with
	// 1013 (limits.send_queue_frames). Default 256.
	SendQueueFrames int
	// SendQueueBytes is how many bytes may wait for a slow socket (limits.send_queue_bytes).
	// Default 1 MiB.
	SendQueueBytes int
	// WriteTimeout bounds writing one batch of frames to a socket (server.write_timeout);
	// an HTTP response gets ReadTimeout plus this. Default 10s.
	WriteTimeout time.Duration
	// JoinTimeout bounds subscribing to a session's notifications when a socket opens.
	// Default 10s.
	JoinTimeout time.Duration
	// MaxRequestBytes bounds HTTP request bodies (limits.max_request_bytes). Default 16 KiB.
	MaxRequestBytes int
	// MaxHeaderBytes bounds HTTP request headers (limits.max_header_bytes; net/http allows
	// 4 KiB more). Default 32 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound slow HTTP clients (the
	// WebSocket is not affected once upgraded): server.read_header_timeout,
	// server.read_timeout, server.idle_timeout. Defaults 5s, 15s, 60s.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// PingInterval is how often each socket is pinged (server.ping_interval), and
	// PongTimeout how long a ping may wait for its pong before the socket is dropped
	// (server.pong_timeout). Defaults 25s and 10s.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// TrustedProxies are the load balancers and proxies whose forwarding headers are
	// believed (server.trusted_proxies): from a peer in one of them, the client address is
	// the right-most address of X-Forwarded-For (or Forwarded) that is not itself trusted,
	// and X-Forwarded-Host and X-Forwarded-Proto are the public origin the Origin check
	// compares with. From any other peer these headers are ignored. Default none.
	TrustedProxies []netip.Prefix
	// AdminAddr, when set, is where Run and Serve also serve /metrics, /readyz and /healthz
	// (server.admin_addr); the public port then answers neither /metrics nor /readyz.
	AdminAddr string
	// AccessSample is the share of HTTP requests and socket closes that get an access log
	// line (log.access_sample). Default 1 (every one); negative: none.
	AccessSample float64
	// SubscriberName is the Redis CLIENT SETNAME of the notification subscriber.
	// Default the store's, "chatbot-sub".
	SubscriberName string

	// Auth verifies the application's JWTs (auth.mode jwt): POST /token, /refresh_token,
	// DELETE /token, GET /sessions and /chat then need one, and sessions belong to its sub.
	// Nil is auth.mode none: anyone may open sessions, a session token is the only key.
	Auth *auth.Verifier
	// SessionsPerMinutePerUser is POST /token per user (limits.sessions_per_minute_per_user,
	// with Auth). Default 30.
	SessionsPerMinutePerUser int
	// MessagesPerMinutePerUser is messages per user, all their sessions together
	// (limits.messages_per_minute_per_user, with Auth). Default 120.
	MessagesPerMinutePerUser int
}

// joinTimeout is JoinTimeout's default; it has no configuration key.
const joinTimeout = 10 * time.Second

// memoryCheckInterval is MemoryCheckInterval's default; it has no configuration key.
const memoryCheckInterval = time.Second

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Addr == "" {
		o.Addr = defaults.ServerAddr
	}
	setDefault(&o.ShutdownTimeout, defaults.ServerShutdownTimeout)
	setDefault(&o.MaxMessageBytes, defaults.LimitsMaxMessageBytes)
	setDefault(&o.MessagesPerMinute, defaults.LimitsMessagesPerMinute)
	setDefault(&o.MaxPending, defaults.LimitsMaxPending)
	setDefault(&o.SocketsPerSession, defaults.LimitsSocketsPerSession)
	setDefault(&o.SendQueueFrames, defaults.LimitsSendQueueFrames)
	setDefault(&o.SendQueueBytes, defaults.LimitsSendQueueBytes)
	setDefault(&o.WriteTimeout, defaults.ServerWriteTimeout)
	setDefault(&o.JoinTimeout, joinTimeout)
	setDefault(&o.MemoryCheckInterval, memoryCheckInterval)
	if o.RedisMemoryHigh == 0 {
		o.RedisMemoryHigh = defaults.LimitsRedisMemoryHigh
	}
	setDefault(&o.MaxRequestBytes, defaults.LimitsMaxRequestBytes)
	setDefault(&o.MaxHeaderBytes, defaults.LimitsMaxHeaderBytes)
	setDefault(&o.ReadHeaderTimeout, defaults.ServerReadHeaderTimeout)
	setDefault(&o.ReadTimeout, defaults.ServerReadTimeout)
	setDefault(&o.IdleTimeout, defaults.ServerIdleTimeout)
	setDefault(&o.PingInterval, defaults.ServerPingInterval)
	setDefault(&o.PongTimeout, defaults.ServerPongTimeout)
	if o.AccessSample == 0 {
		o.AccessSample = 1
	}
	setDefaultOrOff(&o.SessionsPerMinutePerIP, defaults.LimitsSessionsPerMinutePerIP)
	setDefaultOrOff(&o.MessagesPerMinutePerIP, defaults.LimitsMessagesPerMinutePerIP)
	setDefaultOrOff(&o.SocketsPerIP, defaults.LimitsSocketsPerIP)
	if o.MaxSockets == 0 {
		o.MaxSockets = autoMaxSockets()
	}
	setDefault(&o.FramesPerSecond, defaults.LimitsFramesPerSecond)
	setDefault(&o.FragmentsPerMessage, defaults.LimitsFragmentsPerMessage)
	setDefault(&o.SessionsPerMinutePerUser, defaults.LimitsSessionsPerMinutePerUser)
	setDefault(&o.MessagesPerMinutePerUser, defaults.LimitsMessagesPerMinutePerUser)
}

// setDefaultOrOff gives a limit that is zero its default; a negative one stays off.
func setDefaultOrOff(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// setDefault gives a field that is zero or negative its default.
func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
