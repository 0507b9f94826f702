package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/store"

	"github.com/coder/websocket"
)

// auth.mode jwt: every route that touches sessions asks who is calling (Options.Auth), and
// sessions belong to the JWT's sub. A session of someone else answers exactly as one that
// does not exist, on every route and on the socket: no oracle.

// Close reasons of auth.mode jwt.
const (
	reasonAuthRequired = "Authentication required"
	reasonExpired      = "Credentials expired"
)

// wwwAuthenticate is the challenge of every 401 (RFC 6750).
const wwwAuthenticate = `Bearer error="invalid_token"`

// caller is who an HTTP request comes from: with auth.mode none the zero Identity (anyone).
// A refusal has been answered (401) when ok is false.
func (s *Server) caller(w http.ResponseWriter, r *http.Request) (id auth.Identity, ok bool) {
	if s.opt.Auth == nil {
		return auth.Identity{}, true
	}
	id, err := s.verify(r.Context(), r.Header, false)
	if err != nil {
		e := auth.AsError(err)
		w.Header().Set("WWW-Authenticate", wwwAuthenticate)
		writeJSON(w, http.StatusUnauthorized, detail(e.Detail()))
		return auth.Identity{}, false
	}
	return id, true
}

// verify finds the JWT of a request (socket: also the bearer.<jwt> subprotocol) and checks it.
// Refusals are counted by kind and logged at debug level, never with the token.
func (s *Server) verify(ctx context.Context, h http.Header, socket bool) (auth.Identity, error) {
	tok, err := auth.FromRequest(h, socket)
	if err == nil {
		vctx, cancel := context.WithTimeout(ctx, s.opt.JoinTimeout)
		defer cancel()
		var id auth.Identity
		if id, err = s.opt.Auth.Verify(vctx, tok); err == nil {
			return id, nil
		}
	}
	e := auth.AsError(err)
	s.met.authRefused.WithLabelValues(refusalKind(e)).Inc()
	s.log.Debug("credentials refused", "reason", e.Error(), "socket", socket)
	return auth.Identity{}, e
}

// refusalKind labels chatbot_web_auth_refused_total.
func refusalKind(e *auth.Error) string {
	switch {
	case errors.Is(e, auth.ErrMissing):
		return "missing"
	case errors.Is(e, auth.ErrExpired):
		return "expired"
	case errors.Is(e, auth.ErrNotYetValid):
		return "not_yet_valid"
	}
	return "invalid"
}

// userRateLimited answers POST /token over limits.sessions_per_minute_per_user.
func (s *Server) userRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, detail(fmt.Sprintf(
		"Too many sessions created by this user (limit %d per minute): try again in %ds",
		s.opt.SessionsPerMinutePerUser, secs)))
}

// GET /sessions: the caller's live sessions, most recently active first (auth.mode jwt).
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	if s.opt.Auth == nil {
		writeJSON(w, http.StatusNotFound, detail("Not available: auth.mode is none"))
		return
	}
	id, ok := s.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeJSON(w, http.StatusBadRequest, detail(fmt.Sprintf("limit: want a whole number from 1 to %d", maxListLimit)))
			return
		}
		limit = n
	}
	list, err := s.st.ListSessions(r.Context(), id.User, q.Get("cursor"), limit)
	switch {
	case errors.Is(err, store.ErrBadCursor):
		writeJSON(w, http.StatusBadRequest, detail("cursor: not one this server gave: pass the next of the page before, or none"))
	case err != nil:
		s.unavailable(w, "listing the sessions", err)
	default:
		writeJSON(w, http.StatusOK, list)
	}
}

// Page sizes of GET /sessions.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// watchExpiry closes a socket with 1008 "Credentials expired" when its JWT does (exp plus
// the leeway); the client reconnects with a new one and resumes with last_id.
func (sock *socket) watchExpiry(until time.Time) {
	sock.mu.Lock()
	defer sock.mu.Unlock()
	sock.expiry = time.AfterFunc(time.Until(until), func() {
		sock.srv.log.Debug("closing a socket whose credentials expired", "session", tokenHash(sock.token))
		sock.closeAsync(websocket.StatusPolicyViolation, reasonExpired)
	})
}

// stopExpiry stops the expiry timer of a socket that ends.
func (sock *socket) stopExpiry() {
	sock.mu.Lock()
	defer sock.mu.Unlock()
	if sock.expiry != nil {
		sock.expiry.Stop()
	}
}
