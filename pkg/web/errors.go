package web

import "errors"

// errNoStore means New was given no Options.Store.
var errNoStore = errors.New("web: Options.Store is required")

// errTooLarge means a request body is over Options.MaxRequestBytes (413).
var errTooLarge = errors.New("request body too large")

// Errors of joining a session's hub; admit turns each into the socket's close code.
var (
	errTooManySockets   = errors.New("too many sockets open for this session")
	errSessionGone      = errors.New("session deleted")
	errSubscribeTimeout = errors.New("subscribing to the session's notifications timed out")
)

// errNotHijacker means the ResponseWriter of a WebSocket upgrade cannot hand over its
// connection.
var errNotHijacker = errors.New("connection cannot be hijacked")
