package config

import (
	"time"

	"chatbot/pkg/defaults"
)

// Key is one configuration key: its dotted name (as in config.yaml, CHATBOT_* and --flags),
// its default and a one-line description.
type Key struct {
	Name    string
	Default any
	Help    string
}

// Keys lists every configuration key. Defaults, flags, docs tests and config.yaml all follow it.
// A default that a package's Options also falls back to is a constant of package defaults,
// so it is written once.
var Keys = []Key{
	{"redis.url", "redis://127.0.0.1:6379/0", "redis:// or rediss:// (TLS) URL, user:password allowed; a cluster as redis://h1:p1?addr=h2:p2&addr=h3:p3"},
	{"redis.tls_ca_file", "", "CA bundle (PEM) to verify a rediss:// server; empty uses the system roots"},
	{"redis.connect_timeout", defaults.RedisConnectTimeout, "how long to wait for a Redis connection"},
	{"redis.command_timeout", defaults.RedisCommandTimeout, "how long one Redis command may take"},
	{"redis.mode", defaults.RedisMode, "auto (find out at start), single (one Redis: a script may touch keys of any hash slot) or cluster (never: for a proxy or a sharded Redis behind one endpoint)"},

	{"server.addr", defaults.ServerAddr, "where serve listens"},
	{"server.allowed_origins", []string{}, "extra browser origins allowed for the WebSocket and CORS (same origin is always allowed)"},
	{"server.frame_ancestors", []string{}, "origins whose pages may show the web chat in a frame (CSP frame-ancestors); pages of the chat's own origin always may"},
	{"server.shutdown_timeout", defaults.ServerShutdownTimeout, "drain time on SIGTERM"},
	{"server.read_header_timeout", defaults.ServerReadHeaderTimeout, "time a client has to send a request's headers before it is disconnected"},
	{"server.read_timeout", defaults.ServerReadTimeout, "time a client has to send a whole HTTP request, body included (an open WebSocket is not affected)"},
	{"server.idle_timeout", defaults.ServerIdleTimeout, "how long an idle keep-alive HTTP connection stays open"},
	{"server.write_timeout", defaults.ServerWriteTimeout, "time to write waiting frames to a socket before it is dropped; an HTTP response gets server.read_timeout plus this"},
	{"server.ping_interval", defaults.ServerPingInterval, "how often each socket is pinged (keeps load balancers from cutting it, finds clients that vanished)"},
	{"server.pong_timeout", defaults.ServerPongTimeout, "how long a ping may wait for its pong before the socket is dropped"},
	{"server.trusted_proxies", []string{}, "load balancers and proxies (CIDRs or addresses) whose X-Forwarded-For/Forwarded and X-Forwarded-Host/-Proto are believed; from any other peer they are ignored"},
	{"server.admin_addr", "", "where serve also serves /metrics and /readyz (host:port, e.g. :9090), which the public port then no longer answers; empty: both on server.addr"},

	{"session.ttl", defaults.SessionTTL, "idle time before a session and its data expire"},
	{"session.history_max", defaults.SessionHistoryMax, "messages kept per session"},
	{"session.events_max", defaults.SessionEventsMax, "events (acks, deltas, replies) kept per session for resume"},
	{"session.history_max_bytes", defaults.SessionHistoryMaxBytes, "bytes of history kept per session (its messages' JSON), the oldest dropped first, with session.history_max"},
	{"session.events_max_bytes", defaults.SessionEventsMaxBytes, "bytes of events kept per session (acks, replies; deltas are deleted with their reply), the oldest dropped first, with session.events_max"},

	{"stream.partitions", defaults.StreamPartitions, "request streams chat:requests:{p}; set once per deployment"},
	{"stream.max_len", defaults.StreamMaxLen, "approximate entries kept per request stream"},
	{"stream.max_age", defaults.StreamMaxAge, "how long request streams and chat:dead keep an entry: older ones are trimmed (XTRIM MINID) by the workers"},

	{"worker.replicas", defaults.WorkerReplicas, "consumers in this process"},
	{"worker.concurrency", defaults.WorkerConcurrency, "requests in flight per consumer"},
	{"worker.claim_idle", defaults.WorkerClaimIdle, "how long a request may sit with a dead consumer before another takes it"},
	{"worker.shutdown_timeout", defaults.WorkerShutdownTimeout, "time to finish in-flight requests on SIGTERM"},
	{"worker.max_deliveries", defaults.WorkerMaxDeliveries, "deliveries of one request (a worker crashed or panicked on it each time) before it goes to chat:dead and its message gets model_error"},
	{"worker.consumer_idle_max", defaults.WorkerConsumerIdleMax, "a consumer of the group idle this long with nothing pending (a dead process's) is removed"},
	{"worker.delta_interval", defaults.WorkerDeltaInterval, "one delta event per reply per interval on average (text is also sent once 256 bytes wait); the replies of a work process send theirs at the same instants, so that one Redis step writes many; 0: every piece of the model's output as it comes"},
	{"worker.metrics_addr", "", "where work serves /metrics, /healthz and /readyz (host:port, e.g. :9091); empty: not served"},

	{"llm.provider", "echo", "echo (offline) or openai (any OpenAI-compatible endpoint)"},
	{"llm.base_url", "https://api.openai.com/v1", "base URL of the OpenAI-compatible API, including /v1"},
	{"llm.api_key", "", "API key; prefer the environment (CHATBOT_LLM_API_KEY); never logged"},
	{"llm.model", "gpt-4o-mini", "model name"},
	{"llm.system_prompt", "You are a helpful assistant.", "system prompt sent before the history"},
	{"llm.history", 10, "earlier turns (a user message and its reply) sent to the model as context"},
	{"llm.max_tokens", 512, "largest reply, in tokens"},
	{"llm.temperature", 0.7, "sampling temperature"},
	{"llm.timeout", 60 * time.Second, "time limit of one model call"},
	{"llm.max_retries", 3, "retries of a failed model call before the user gets an error"},
	{"llm.send_user", true, "send the user to the model as the OpenAI user field: the sub with auth.mode jwt, else a hash of the session token (never the token)"},
	{"llm.echo_delay", time.Duration(0), "how long the echo model takes per reply, streamed word by word"},

	{"auth.mode", "none", "none (anyone who reaches serve may open sessions) or jwt (every request carries a JWT of the application's login)"},
	{"auth.jwt_secret", "", "HMAC secret of the JWTs (HS256/384/512), at least 32 bytes; prefer the environment (CHATBOT_AUTH_JWT_SECRET); never logged"},
	{"auth.jwks_url", "", "the identity provider's JWKS URL (RS256/384/512, PS256, ES256/384, EdDSA); with mode jwt, set this or auth.jwt_secret"},
	{"auth.jwks_refresh", defaults.AuthJWKSRefresh, "how often the JWKS is fetched again, and the least time between two fetches for a kid it does not hold"},
	{"auth.issuer", "", "the iss every JWT must carry; required with auth.jwks_url"},
	{"auth.audience", "", "when set, the aud every JWT must carry"},
	{"auth.leeway", defaults.AuthLeeway, "clock skew allowed on a JWT's exp, nbf and iat"},

	{"limits.max_message_bytes", defaults.LimitsMaxMessageBytes, "largest user message (WebSocket frame) in bytes"},
	{"limits.messages_per_minute", defaults.LimitsMessagesPerMinute, "messages per session per minute"},
	{"limits.max_pending", defaults.LimitsMaxPending, "unanswered messages per session"},
	{"limits.sockets_per_session", defaults.LimitsSocketsPerSession, "open sockets per session"},
	{"limits.sessions_per_minute_per_ip", defaults.LimitsSessionsPerMinutePerIP, "POST /token per client address (IPv6: per /64) per minute; 0 turns the limit off"},
	{"limits.messages_per_minute_per_ip", defaults.LimitsMessagesPerMinutePerIP, "messages per client address (IPv6: per /64) per minute, all its sessions together, counted by each serve; 0 turns the limit off"},
	{"limits.sockets_per_ip", defaults.LimitsSocketsPerIP, "open sockets per client address (IPv6: per /64) on each serve; more get 429 before the upgrade; 0 turns the limit off"},
	{"limits.max_sockets", 0, "open sockets per serve; more get 503 before the upgrade (the health routes keep answering); 0: 90% of the open-file limit"},
	{"limits.frames_per_second", defaults.LimitsFramesPerSecond, "frames a socket may send per second, control and continuation frames included, in bursts of twice as many; more: close 1008"},
	{"limits.fragments_per_message", defaults.LimitsFragmentsPerMessage, "frames one client message may be split into; more: close 1008"},
	{"limits.redis_memory_high", defaults.LimitsRedisMemoryHigh, "share of Redis maxmemory (its fullest node) above which new sessions get 503 and new messages unavailable, while replies in flight finish; read every second; 0 turns the guard off (so does a Redis without maxmemory)"},
	{"limits.max_request_bytes", defaults.LimitsMaxRequestBytes, "largest HTTP request body in bytes; a larger one gets 413"},
	{"limits.max_header_bytes", defaults.LimitsMaxHeaderBytes, "largest HTTP request headers in bytes (net/http allows 4 KiB more); larger ones get 431"},
	{"limits.send_queue_frames", defaults.LimitsSendQueueFrames, "frames waiting for a socket that does not read before it is closed with 1013 (the client resumes)"},
	{"limits.send_queue_bytes", defaults.LimitsSendQueueBytes, "bytes waiting for a socket that does not read before it is closed with 1013 (the client resumes)"},

	{"limits.sessions_per_minute_per_user", defaults.LimitsSessionsPerMinutePerUser, "POST /token per user per minute (auth.mode jwt)"},
	{"limits.messages_per_minute_per_user", defaults.LimitsMessagesPerMinutePerUser, "messages per user per minute, all their sessions together (auth.mode jwt)"},
	{"limits.tokens_per_day_per_user", 0, "prompt + completion tokens per user per UTC day (auth.mode none: per session); a message sent over it gets the quota error, a queued one is answered with it without calling the model; 0 turns the limit off"},

	{"log.level", "info", "debug, info, warn or error"},
	{"log.format", "json", "json or text"},
	{"log.access_sample", 1.0, "share of HTTP requests and socket closes that get an access log line (0 none, 1 every one)"},
}
