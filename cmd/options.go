package cmd

import (
	"net/netip"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/web"
	"chatbot/pkg/worker"
)

// The one place where the configuration becomes the options of the pieces cmd builds. Each
// function leaves what is not a configuration key (a store, a logger, a registry, a model) to
// its caller.

// storeOptions are the redis.*, session.* and stream.* keys as store options.
func storeOptions(cfg *config.Config) store.Options {
	return store.Options{
		URL:             cfg.Redis.URL,
		TLSCAFile:       cfg.Redis.TLSCAFile,
		ConnectTimeout:  cfg.Redis.ConnectTimeout,
		CommandTimeout:  cfg.Redis.CommandTimeout,
		Mode:            cfg.Redis.Mode,
		SessionTTL:      cfg.Session.TTL,
		HistoryMax:      cfg.Session.HistoryMax,
		EventsMax:       cfg.Session.EventsMax,
		HistoryMaxBytes: cfg.Session.HistoryMaxBytes,
		EventsMaxBytes:  cfg.Session.EventsMaxBytes,
		Partitions:      cfg.Stream.Partitions,
		StreamMaxLen:    cfg.Stream.MaxLen,
		StreamMaxAge:    cfg.Stream.MaxAge,
		Budget: store.Budget{
			TokensPerDay: int64(cfg.Limits.TokensPerDayPerUser),
			ReplyTokens:  int64(cfg.LLM.MaxTokens) + llm.EstimateTokens(cfg.LLM.SystemPrompt),
			// The longest a live turn's model calls take, and the time to notice its worker died.
			Hold: time.Duration(cfg.LLM.MaxRetries+1)*cfg.LLM.Timeout + cfg.Worker.ClaimIdle,
		},
	}
}

// webOptions are the server.* and limits.* keys as web options (Auth is authVerifier's).
func webOptions(cfg *config.Config) web.Options {
	return web.Options{
		Addr:                   cfg.Server.Addr,
		AllowedOrigins:         cfg.Server.AllowedOrigins,
		FrameAncestors:         cfg.Server.FrameAncestors,
		ShutdownTimeout:        cfg.Server.ShutdownTimeout,
		ReadHeaderTimeout:      cfg.Server.ReadHeaderTimeout,
		ReadTimeout:            cfg.Server.ReadTimeout,
		IdleTimeout:            cfg.Server.IdleTimeout,
		WriteTimeout:           cfg.Server.WriteTimeout,
		PingInterval:           cfg.Server.PingInterval,
		PongTimeout:            cfg.Server.PongTimeout,
		TrustedProxies:         trustedProxies(cfg.Server.TrustedProxies),
		AdminAddr:              cfg.Server.AdminAddr,
		AccessSample:           offIfZero(cfg.Log.AccessSample),
		MaxMessageBytes:        cfg.Limits.MaxMessageBytes,
		MessagesPerMinute:      cfg.Limits.MessagesPerMinute,
		MaxPending:             cfg.Limits.MaxPending,
		SocketsPerSession:      cfg.Limits.SocketsPerSession,
		SessionsPerMinutePerIP: offIfZero(cfg.Limits.SessionsPerMinutePerIP),
		MessagesPerMinutePerIP: offIfZero(cfg.Limits.MessagesPerMinutePerIP),
		SocketsPerIP:           offIfZero(cfg.Limits.SocketsPerIP),
		MaxSockets:             cfg.Limits.MaxSockets,
		FramesPerSecond:        cfg.Limits.FramesPerSecond,
		FragmentsPerMessage:    cfg.Limits.FragmentsPerMessage,
		RedisMemoryHigh:        offIfZero(cfg.Limits.RedisMemoryHigh),
		MaxRequestBytes:        cfg.Limits.MaxRequestBytes,
		MaxHeaderBytes:         cfg.Limits.MaxHeaderBytes,
		SendQueueFrames:        cfg.Limits.SendQueueFrames,
		SendQueueBytes:         cfg.Limits.SendQueueBytes,

		SessionsPerMinutePerUser: cfg.Limits.SessionsPerMinutePerUser,
		MessagesPerMinutePerUser: cfg.Limits.MessagesPerMinutePerUser,
	}
}

// offIfZero maps a key whose 0 turns something off to the web option's "off" (negative; a
// zero option takes the default).
func offIfZero[T int | float64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// trustedProxies parses server.trusted_proxies (Validate has checked every entry).
func trustedProxies(entries []string) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range entries {
		if p, err := config.ParseProxy(e); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// authOptions are the auth.* keys (but auth.mode, which says whether there is a verifier at
// all: authVerifier) as the verifier's options.
func authOptions(cfg *config.Config) auth.Options {
	return auth.Options{
		Secret:      []byte(cfg.Auth.JWTSecret),
		JWKSURL:     cfg.Auth.JWKSURL,
		Issuer:      cfg.Auth.Issuer,
		Audience:    cfg.Auth.Audience,
		Leeway:      cfg.Auth.Leeway,
		JWKSRefresh: cfg.Auth.JWKSRefresh,
	}
}

// workerOptions are the worker.* keys and the llm.* keys of a turn as worker options.
func workerOptions(cfg *config.Config) worker.Options {
	model := cfg.LLM.Model
	if cfg.LLM.Provider == llm.ProviderEcho {
		model = llm.ProviderEcho
	}
	return worker.Options{
		ModelName:       model,
		Replicas:        cfg.Worker.Replicas,
		Concurrency:     cfg.Worker.Concurrency,
		ClaimIdle:       cfg.Worker.ClaimIdle,
		ShutdownTimeout: cfg.Worker.ShutdownTimeout,
		DeltaInterval:   deltaInterval(cfg.Worker.DeltaInterval),
		MaxDeliveries:   cfg.Worker.MaxDeliveries,
		ConsumerIdleMax: cfg.Worker.ConsumerIdleMax,
		SystemPrompt:    cfg.LLM.SystemPrompt,
		History:         cfg.LLM.History,
		Retry:           llm.Retry{MaxRetries: cfg.LLM.MaxRetries, Timeout: cfg.LLM.Timeout},
		SendUser:        cfg.LLM.SendUser,
	}
}

// deltaInterval is worker.delta_interval as worker.Options.DeltaInterval: 0 writes every piece.
func deltaInterval(d time.Duration) time.Duration {
	if d == 0 {
		return worker.NoDeltaInterval
	}
	return d
}

// llmConfig is the model the llm.* keys describe.
func llmConfig(cfg *config.Config) llm.Config {
	return llm.Config{
		Provider: cfg.LLM.Provider, BaseURL: cfg.LLM.BaseURL, APIKey: cfg.LLM.APIKey, Model: cfg.LLM.Model,
		MaxTokens: cfg.LLM.MaxTokens, Temperature: cfg.LLM.Temperature, EchoDelay: cfg.LLM.EchoDelay,
		Calls: cfg.Worker.Replicas * cfg.Worker.Concurrency,
	}
}
