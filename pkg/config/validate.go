package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// frameAncestor is an origin a CSP frame-ancestors source may name: http or https, a host
// (DNS name, IPv4 or [IPv6]) that may start with "*." and an optional port; no path, no
// quote, no space, no semicolon, so it can never change the rest of the policy.
var frameAncestor = regexp.MustCompile(`^https?://(\*\.)?([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		bad("redis.url", "want redis://host:port/db or rediss://..., got %q", RedactURL(c.Redis.URL))
	}
	positive := func(key string, n int64) {
		if n <= 0 {
			bad(key, "must be greater than 0, got %d", n)
		}
	}
	positiveDuration := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be greater than 0, got %s", d)
		}
	}
	switch c.Redis.Mode {
	case "auto", "single", "cluster":
	default:
		bad("redis.mode", "want auto, single or cluster, got %q", c.Redis.Mode)
	}
	positiveDuration("redis.connect_timeout", c.Redis.ConnectTimeout)
	positiveDuration("redis.command_timeout", c.Redis.CommandTimeout)
	if c.Server.Addr == "" {
		bad("server.addr", "must not be empty")
	}
	for _, o := range c.Server.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			bad("server.allowed_origins", "want scheme://host[:port] or *, got %q", o)
		}
	}
	for _, o := range c.Server.FrameAncestors {
		if !frameAncestor.MatchString(o) {
			bad("server.frame_ancestors", "want an origin, http(s)://host[:port] (the host may start with *.), got %q", o)
		}
	}
	positiveDuration("server.shutdown_timeout", c.Server.ShutdownTimeout)
	positiveDuration("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	positiveDuration("server.read_timeout", c.Server.ReadTimeout)
	if c.Server.ReadTimeout > 0 && c.Server.ReadHeaderTimeout > c.Server.ReadTimeout {
		bad("server.read_header_timeout", "must not exceed server.read_timeout (%s, the time for the whole request), got %s", c.Server.ReadTimeout, c.Server.ReadHeaderTimeout)
	}
	positiveDuration("server.idle_timeout", c.Server.IdleTimeout)
	positiveDuration("server.write_timeout", c.Server.WriteTimeout)
	if c.Server.PingInterval < 100*time.Millisecond {
		bad("server.ping_interval", "must be at least 100ms, got %s", c.Server.PingInterval)
	}
	if c.Server.PongTimeout < 100*time.Millisecond {
		bad("server.pong_timeout", "must be at least 100ms, got %s", c.Server.PongTimeout)
	}
	for _, p := range c.Server.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			bad("server.trusted_proxies", "%v", err)
		}
	}
	if c.Server.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.Server.AdminAddr); err != nil {
			bad("server.admin_addr", "want host:port or :port, got %q", c.Server.AdminAddr)
		} else if c.Server.AdminAddr == c.Server.Addr {
			bad("server.admin_addr", "must differ from server.addr (%s): it takes /metrics and /readyz off the public port", c.Server.Addr)
		}
	}
	if c.Session.TTL < 1e9 {
		bad("session.ttl", "must be at least 1s, got %s", c.Session.TTL)
	}
	positive("session.history_max", int64(c.Session.HistoryMax))
	positive("session.events_max", int64(c.Session.EventsMax))
	for _, kv := range []struct {
		key string
		n   int
	}{{"session.history_max_bytes", c.Session.HistoryMaxBytes}, {"session.events_max_bytes", c.Session.EventsMaxBytes}} {
		if kv.n < minSessionBytes {
			bad(kv.key, "must be at least %d (a turn, a message and its reply, must fit), got %d", minSessionBytes, kv.n)
		}
	}
	positive("stream.partitions", int64(c.Stream.Partitions))
	if c.Stream.Partitions > 1024 {
		bad("stream.partitions", "at most 1024, got %d", c.Stream.Partitions)
	}
	positive("stream.max_len", int64(c.Stream.MaxLen))
	if c.Stream.MaxAge < time.Minute {
		bad("stream.max_age", "must be at least 1m, got %s (it bounds how long a request may wait, and a dead letter stay)", c.Stream.MaxAge)
	}
	positive("worker.replicas", int64(c.Worker.Replicas))
	positive("worker.concurrency", int64(c.Worker.Concurrency))
	if c.Worker.ClaimIdle < 1e9 {
		bad("worker.claim_idle", "must be at least 1s, got %s", c.Worker.ClaimIdle)
	}
	positiveDuration("worker.shutdown_timeout", c.Worker.ShutdownTimeout)
	positive("worker.max_deliveries", int64(c.Worker.MaxDeliveries))
	if c.Worker.ConsumerIdleMax < time.Minute {
		bad("worker.consumer_idle_max", "must be at least 1m (a live consumer reads every second or so), got %s", c.Worker.ConsumerIdleMax)
	}
	if c.Worker.DeltaInterval < 0 || c.Worker.DeltaInterval > 10*time.Second {
		bad("worker.delta_interval", "want 0 (no coalescing) to 10s, got %s", c.Worker.DeltaInterval)
	}
	if c.Worker.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.Worker.MetricsAddr); err != nil {
			bad("worker.metrics_addr", "want host:port or :port, got %q", c.Worker.MetricsAddr)
		}
	}
	switch c.LLM.Provider {
	case "echo":
	case "openai":
		if u, err := url.Parse(c.LLM.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("llm.base_url", "want http(s)://host/v1, got %q", RedactURL(c.LLM.BaseURL))
		}
		if c.LLM.Model == "" {
			bad("llm.model", "must not be empty with provider openai")
		}
	default:
		bad("llm.provider", "want echo or openai, got %q", c.LLM.Provider)
	}
	if c.LLM.History < 0 {
		bad("llm.history", "must not be negative, got %d", c.LLM.History)
	}
	positive("llm.max_tokens", int64(c.LLM.MaxTokens))
	if c.LLM.Temperature < 0 || c.LLM.Temperature > 2 {
		bad("llm.temperature", "must be between 0 and 2, got %g", c.LLM.Temperature)
	}
	positiveDuration("llm.timeout", c.LLM.Timeout)
	if c.LLM.MaxRetries < 0 {
		bad("llm.max_retries", "must not be negative, got %d", c.LLM.MaxRetries)
	}
	if c.LLM.EchoDelay < 0 {
		bad("llm.echo_delay", "must not be negative, got %s", c.LLM.EchoDelay)
	}
	positive("limits.max_message_bytes", int64(c.Limits.MaxMessageBytes))
	if c.Limits.MaxMessageBytes > 1<<20 {
		bad("limits.max_message_bytes", "at most 1048576, got %d", c.Limits.MaxMessageBytes)
	}
	positive("limits.messages_per_minute", int64(c.Limits.MessagesPerMinute))
	positive("limits.max_pending", int64(c.Limits.MaxPending))
	positive("limits.sockets_per_session", int64(c.Limits.SocketsPerSession))
	notNegative := func(key string, n int, off string) {
		if n < 0 {
			bad(key, "must not be negative (0 %s), got %d", off, n)
		}
	}
	notNegative("limits.sessions_per_minute_per_ip", c.Limits.SessionsPerMinutePerIP, "turns the limit off")
	notNegative("limits.messages_per_minute_per_ip", c.Limits.MessagesPerMinutePerIP, "turns the limit off")
	notNegative("limits.sockets_per_ip", c.Limits.SocketsPerIP, "turns the limit off")
	notNegative("limits.max_sockets", c.Limits.MaxSockets, "is 90% of the open-file limit")
	positive("limits.frames_per_second", int64(c.Limits.FramesPerSecond))
	positive("limits.fragments_per_message", int64(c.Limits.FragmentsPerMessage))
	if h := c.Limits.RedisMemoryHigh; h < 0 || h > 1 {
		bad("limits.redis_memory_high", "must be between 0 and 1 (a share of Redis maxmemory; 0 turns the guard off), got %g", h)
	}
	between := func(key string, n, lo, hi int) {
		if n < lo || n > hi {
			bad(key, "must be between %d and %d, got %d", lo, hi, n)
		}
	}
	between("limits.max_request_bytes", c.Limits.MaxRequestBytes, 1<<10, 1<<20)
	between("limits.max_header_bytes", c.Limits.MaxHeaderBytes, 1<<10, 1<<20)
	positive("limits.send_queue_frames", int64(c.Limits.SendQueueFrames))
	if c.Limits.SendQueueBytes < 64<<10 {
		bad("limits.send_queue_bytes", "must be at least 65536 (a socket is closed when one frame does not fit), got %d", c.Limits.SendQueueBytes)
	}
	c.validateAuth(bad)
	positive("limits.sessions_per_minute_per_user", int64(c.Limits.SessionsPerMinutePerUser))
	positive("limits.messages_per_minute_per_user", int64(c.Limits.MessagesPerMinutePerUser))
	notNegative("limits.tokens_per_day_per_user", c.Limits.TokensPerDayPerUser, "turns the limit off")
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "want json or text, got %q", c.Log.Format)
	}
	if c.Log.AccessSample < 0 || c.Log.AccessSample > 1 {
		bad("log.access_sample", "must be between 0 and 1 (the share of requests logged), got %g", c.Log.AccessSample)
	}
	return errors.Join(errs...)
}

// minSessionBytes is the least session.history_max_bytes and session.events_max_bytes.
const minSessionBytes = 64 << 10

// minSecretBytes is the shortest auth.jwt_secret (auth.MinSecretBytes: 256 bits for HS256).
const minSecretBytes = 32

// validateAuth checks the auth.* keys. With mode jwt exactly one of auth.jwt_secret and
// auth.jwks_url is set, reported as one line; with mode none neither is, so a secret set for
// a mode left at none does not pass for protection. The secret itself is never printed.
func (c *Config) validateAuth(bad func(key, format string, args ...any)) {
	a := c.Auth
	switch a.Mode {
	case AuthNone:
		for _, kv := range [][2]string{{"auth.jwt_secret", a.JWTSecret}, {"auth.jwks_url", a.JWKSURL}} {
			if kv[1] != "" {
				bad(kv[0], "is set but auth.mode is none, so nothing would check JWTs: set auth.mode to jwt, or unset %s", kv[0])
			}
		}
		return
	case AuthJWT:
	default:
		bad("auth.mode", "want none or jwt, got %q", a.Mode)
		return
	}
	switch {
	case a.JWTSecret == "" && a.JWKSURL == "":
		bad("auth.mode", "jwt needs exactly one of auth.jwt_secret (HMAC) and auth.jwks_url (public keys), got neither")
	case a.JWTSecret != "" && a.JWKSURL != "":
		bad("auth.mode", "jwt needs exactly one of auth.jwt_secret (HMAC) and auth.jwks_url (public keys), got both")
	case a.JWTSecret != "" && len(a.JWTSecret) < minSecretBytes:
		bad("auth.jwt_secret", "must be at least %d bytes, got %d", minSecretBytes, len(a.JWTSecret))
	case a.JWKSURL != "":
		if u, err := url.Parse(a.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("auth.jwks_url", "want https://host/path, got %q", RedactURL(a.JWKSURL))
		}
		if a.Issuer == "" {
			bad("auth.issuer", "is required with auth.jwks_url (the iss of the provider's tokens)")
		}
	}
	if a.JWKSRefresh < time.Second {
		bad("auth.jwks_refresh", "must be at least 1s, got %s", a.JWKSRefresh)
	}
	if a.Leeway < 0 || a.Leeway > 10*time.Minute {
		bad("auth.leeway", "must be between 0s and 10m, got %s", a.Leeway)
	}
}

// RedactURL returns u with its credentials replaced by "xxxxx", for logs and errors. Nothing
// before the last '@' is shown but the scheme, so a password that was not percent-encoded (and
// so ends the URL's host early) does not come out either.
func RedactURL(u string) string {
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		if _, err := url.Parse(u); err != nil {
			return "(unparsable URL)"
		}
		return u
	}
	prefix := ""
	if scheme, _, ok := strings.Cut(u[:at], "://"); ok && scheme != "" &&
		strings.Trim(strings.ToLower(scheme), "abcdefghijklmnopqrstuvwxyz0123456789+-.") == "" {
		prefix = scheme + "://"
	}
	return prefix + "xxxxx@" + u[at+1:]
}

// ParseProxy reads one entry of server.trusted_proxies: a CIDR ("10.0.0.0/8", "fd00::/8") or a
// single address ("192.0.2.7", "::1").
func ParseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want a CIDR (10.0.0.0/8) or an address (192.0.2.7), got %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want a CIDR (10.0.0.0/8) or an address (192.0.2.7), got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
