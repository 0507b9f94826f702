// Package defaults holds, written once, the default of every configuration key that a
// package's Options also falls back to when a field is left zero: pkg/config's key table
// (keys.go) and the Options of pkg/store, pkg/web and pkg/worker all read these constants.
// Each is named after its key (server.read_timeout is ServerReadTimeout).
//
// It is a leaf, like pkg/chat: it imports nothing, so pkg/config needs no import of the
// packages it configures, and they none of pkg/config.
//
// pkg/auth exports its two as auth.DefaultLeeway and auth.DefaultJWKSRefresh, set from these.
package defaults

import "time"

// redis.*: store.Options.
const (
	RedisConnectTimeout = 5 * time.Second
	RedisCommandTimeout = 5 * time.Second
	RedisMode           = "auto"
)

// session.* and stream.*: store.Options.
const (
	SessionTTL        = time.Hour
	SessionHistoryMax = 1000
	SessionEventsMax  = 2000
	// SessionHistoryMaxBytes and SessionEventsMaxBytes bound a session's stored bytes.
	SessionHistoryMaxBytes = 1 << 20
	SessionEventsMaxBytes  = 1 << 20
	StreamPartitions       = 4
	StreamMaxLen           = 100000
	StreamMaxAge           = 24 * time.Hour
)

// server.*: web.Options.
const (
	ServerAddr              = ":8080"
	ServerShutdownTimeout   = 10 * time.Second
	ServerReadHeaderTimeout = 5 * time.Second
	ServerReadTimeout       = 15 * time.Second
	ServerIdleTimeout       = 620 * time.Second // above the keep-alive of common load balancers (AWS ALB 60s, GCP 600s)
	ServerWriteTimeout      = 10 * time.Second
	ServerPingInterval      = 25 * time.Second
	ServerPongTimeout       = 10 * time.Second
)

// worker.*: worker.Options.
const (
	WorkerReplicas        = 1
	WorkerConcurrency     = 64
	WorkerClaimIdle       = 15 * time.Second
	WorkerShutdownTimeout = 30 * time.Second
	WorkerMaxDeliveries   = 5
	WorkerConsumerIdleMax = time.Hour
	// WorkerDeltaInterval: one delta event per reply per this interval, on average.
	WorkerDeltaInterval = 50 * time.Millisecond
)

// auth.*: auth.Options.
const (
	AuthLeeway      = 30 * time.Second
	AuthJWKSRefresh = 5 * time.Minute
)

// limits.*: web.Options.
const (
	LimitsMaxMessageBytes        = 4096
	LimitsMessagesPerMinute      = 60
	LimitsMaxPending             = 16
	LimitsSocketsPerSession      = 8
	LimitsSessionsPerMinutePerIP = 30
	LimitsMaxRequestBytes        = 16 << 10
	LimitsMaxHeaderBytes         = 32 << 10
	LimitsSendQueueFrames        = 256
	LimitsSendQueueBytes         = 1 << 20
	LimitsSocketsPerIP           = 256
	LimitsMessagesPerMinutePerIP = 600
	LimitsFramesPerSecond        = 50
	LimitsFragmentsPerMessage    = 64
	LimitsRedisMemoryHigh        = 0.9

	LimitsSessionsPerMinutePerUser = 30
	LimitsMessagesPerMinutePerUser = 120
)
