package web

import (
	"log/slog"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
	"chatbot/pkg/store"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. Zero values take the documented defaults (those of DESIGN.md
// for the config keys).
type Options struct {
	// Store is the Redis layer; required.
	Store *store.Store
	// Logger gets the server's logs (never a token); default slog.Default().
	Logger *slog.Logger
	// Registry gets the server's metrics and is what /metrics serves; default a new registry
	// with the Go and process collectors.
	Registry *prometheus.Registry

	// Addr is where Run listens (server.addr). Default ":8080".
	Addr string
	// AllowedOrigins are browser origins allowed besides the same origin, for the WebSocket
	// and CORS (server.allowed_origins): "scheme://host[:port]", a host pattern such as
	// "*.example.com", or "*" for any.
	AllowedOrigins []string
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
	// SessionsPerMinutePerIP is POST /token per client address (limits.sessions_per_minute_per_ip).
	// Default 30.
	SessionsPerMinutePerIP int

	// SendQueue is how many frames may wait for a slow socket before it is closed with 1013
	// (limits.send_queue_frames). Default 256.
	SendQueue int
	// SendQueueBytes is how many bytes may wait for a slow socket (limits.send_queue_bytes).
	// Default 1 MiB.
	SendQueueBytes int
	// WriteTimeout bounds writing one batch of frames to a socket (server.write_timeout);
	// an HTTP response gets ReadTimeout plus this. Default 10s.
	WriteTimeout time.Duration
	// JoinTimeout bounds subscribing to a session's notifications when a socket opens.
	// Default 10s.
	JoinTimeout time.Duration
	// MaxBodyBytes bounds HTTP request bodies (limits.max_request_bytes). Default 16 KiB.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds HTTP request headers (limits.max_header_bytes; net/http allows
	// 4 KiB more). Default 32 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound slow HTTP clients (the
	// WebSocket is not affected once upgraded): server.read_header_timeout,
	// server.read_timeout, server.idle_timeout. Defaults 5s, 15s, 60s.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// SubscriberName is the Redis CLIENT SETNAME of the notification subscriber.
	// Default "chatbot-sub".
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

// OptionsFromConfig maps the configuration keys to Options; Store, Logger and Registry are
// left to the caller.
func OptionsFromConfig(cfg *config.Config) Options {
	return Options{
		Addr:                   cfg.Server.Addr,
		AllowedOrigins:         cfg.Server.AllowedOrigins,
		ShutdownTimeout:        cfg.Server.ShutdownTimeout,
		MaxMessageBytes:        cfg.Limits.MaxMessageBytes,
		MessagesPerMinute:      cfg.Limits.MessagesPerMinute,
		MaxPending:             cfg.Limits.MaxPending,
		SocketsPerSession:      cfg.Limits.SocketsPerSession,
		SessionsPerMinutePerIP: cfg.Limits.SessionsPerMinutePerIP,
		SendQueue:              cfg.Limits.SendQueueFrames,
		SendQueueBytes:         cfg.Limits.SendQueueBytes,
		WriteTimeout:           cfg.Server.WriteTimeout,
		MaxBodyBytes:           int64(cfg.Limits.MaxRequestBytes),
		MaxHeaderBytes:         cfg.Limits.MaxHeaderBytes,
		ReadHeaderTimeout:      cfg.Server.ReadHeaderTimeout,
		ReadTimeout:            cfg.Server.ReadTimeout,
		IdleTimeout:            cfg.Server.IdleTimeout,

		SessionsPerMinutePerUser: cfg.Limits.SessionsPerMinutePerUser,
		MessagesPerMinutePerUser: cfg.Limits.MessagesPerMinutePerUser,
	}
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Addr == "" {
		o.Addr = ":8080"
	}
	setDuration(&o.ShutdownTimeout, 10*time.Second)
	setInt(&o.MaxMessageBytes, 4096)
	setInt(&o.MessagesPerMinute, 60)
	setInt(&o.MaxPending, 16)
	setInt(&o.SocketsPerSession, 8)
	setInt(&o.SessionsPerMinutePerIP, 30)
	setInt(&o.SessionsPerMinutePerUser, 30)
	setInt(&o.MessagesPerMinutePerUser, 120)
	setInt(&o.SendQueue, 256)
	setInt(&o.SendQueueBytes, 1<<20)
	setDuration(&o.WriteTimeout, 10*time.Second)
	setDuration(&o.JoinTimeout, 10*time.Second)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 10
	}
	setInt(&o.MaxHeaderBytes, 32<<10)
	setDuration(&o.ReadHeaderTimeout, 5*time.Second)
	setDuration(&o.ReadTimeout, 15*time.Second)
	setDuration(&o.IdleTimeout, 60*time.Second)
	if o.SubscriberName == "" {
		o.SubscriberName = "chatbot-sub"
	}
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}
