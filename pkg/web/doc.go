// Package web is the web tier of `chatbot serve`: the HTTP API of docs/PROTOCOL.md (POST/DELETE
// /token, /refresh_token, /healthz, /readyz, /metrics, /test), the WebSocket chat at /chat
// (github.com/coder/websocket) and the embedded web UI at /.
//
// With Options.Auth (auth.mode jwt, auth.go) the session routes, GET /sessions and /chat need
// the application's JWT (pkg/auth), sessions belong to its sub, and a socket closes when its
// JWT expires.
//
// Lifecycle: New builds a Server and starts nothing. Serve (or Run, a run.Service) starts the
// notification subscriber and serves; when its context ends it closes every socket with 1001
// and returns once every goroutine the server started has ended.
//
// Delivery (fanout.go, hub.go): a Server holds one store.Subscriber (one Redis connection)
// subscribed to the notify channel of every session it has sockets for, and one hub per such
// session. A hub remembers the last event it delivered; a notification whose prev is that
// event goes straight to the session's sockets, anything else makes the hub read the gap from
// Redis (XRANGE) first, so every socket gets every event once, in order. A socket that resumes with
// ?last_id replays the events after it from Redis while live events wait in its queue, and
// the queue drops anything at or before what the replay sent.
//
// Cost per socket: one goroutine (the reader) while idle, one timer (the next ping), no buffer
// beyond the connection's; writes, pings and closes run on goroutines that exist only while
// they work. A socket whose queue reaches Options.SendQueueFrames frames or
// Options.SendQueueBytes (a client that does not read) is closed with 1013, so it reconnects
// and resumes.
//
// The edge (client.go, caps.go, frames.go, ping.go, expiry.go, access.go): each request's
// client address (behind Options.TrustedProxies, the one they forwarded; IPv6 by its /64)
// keys the per-address limits; sockets are capped per address and per process before the
// upgrade; a frameMeter under coder/websocket counts every frame a client sends; sockets are
// pinged, and closed when their session expires; one access log line per request and per
// socket.
//
// The memory guard (memguard.go): above Options.RedisMemoryHigh of Redis's maxmemory, sampled
// every second in the background, new sessions and new messages are refused, not kept.
//
// Tracing (trace.go): with Options.Tracer, a socket message is a span of the client's trace
// (the frame's or the upgrade's traceparent) whose send's traceparent goes with the message to
// the worker, and writing a reply's first delta and its message to a socket is a span of the
// reply's trace; chatbot_web_delivery_seconds times every such write.
package web
