package cmd

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
	"chatbot/pkg/store"

	"github.com/spf13/cobra"
)

// loadConfig reads the configuration for cmd: defaults < file < env < flags.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	return config.Load(cmd.Flags())
}

// storeOptions maps the config to the store's options.
func storeOptions(cfg *config.Config) store.Options {
	return store.Options{
		URL:            cfg.Redis.URL,
		TLSCAFile:      cfg.Redis.TLSCAFile,
		ConnectTimeout: cfg.Redis.ConnectTimeout,
		CommandTimeout: cfg.Redis.CommandTimeout,
		SessionTTL:     cfg.Session.TTL,
		HistoryMax:     cfg.Session.HistoryMax,
		EventsMax:      cfg.Session.EventsMax,
		Partitions:     cfg.Stream.Partitions,
		StreamMaxLen:   cfg.Stream.MaxLen,
	}
}

// openStore connects to the configured Redis.
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	return store.Open(ctx, storeOptions(cfg))
}

// authVerifier is the JWT verifier of the auth.* keys: nil with auth.mode none. Close it when
// done (with a JWKS URL it keeps the keys fresh on a goroutine).
func authVerifier(cfg *config.Config, log *slog.Logger) (*auth.Verifier, error) {
	if cfg.Auth.Mode != config.AuthJWT {
		return nil, nil
	}
	return auth.New(auth.Options{
		Secret:      []byte(cfg.Auth.JWTSecret),
		JWKSURL:     cfg.Auth.JWKSURL,
		Issuer:      cfg.Auth.Issuer,
		Audience:    cfg.Auth.Audience,
		Leeway:      cfg.Auth.Leeway,
		JWKSRefresh: cfg.Auth.JWKSRefresh,
		Logger:      log,
	})
}

// newLogger builds the slog logger of cfg, writing to w. Attributes whose key names a secret
// are redacted whatever a caller passes.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactSecrets}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func redactSecrets(_ []string, a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "token", "api_key", "apikey", "password", "authorization":
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
