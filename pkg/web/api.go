package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
)

// Error bodies of the HTTP API (docs/PROTOCOL.md), FastAPI-shaped as the tutorial's clients expect.
var (
	errBodyName    = map[string]any{"detail": map[string]string{"loc": "name", "msg": "Enter a valid name"}}
	errBodySession = detail("Session expired or does not exist")
)

func detail(msg string) map[string]any { return map[string]any{"detail": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// field reads a parameter from the query, then from a JSON object body or a form body.
func (s *Server) field(w http.ResponseWriter, r *http.Request, key string) (string, error) {
	if v, ok := r.URL.Query()[key]; ok && len(v) > 0 {
		return v[0], nil
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodDelete {
		return "", nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.opt.MaxRequestBytes))
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var tooLarge *http.MaxBytesError
	switch ct {
	case "application/json":
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			if errors.As(err, &tooLarge) {
				return "", errTooLarge
			}
			return "", nil
		}
		var v string
		_ = json.Unmarshal(body[key], &v) // a value that is not a string reads as missing
		return v, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(int64(s.opt.MaxRequestBytes)); err != nil {
			if errors.As(err, &tooLarge) {
				return "", errTooLarge
			}
			return "", nil
		}
		return r.PostFormValue(key), nil
	default:
		if err := r.ParseForm(); err != nil {
			if errors.As(err, &tooLarge) {
				return "", errTooLarge
			}
			return "", nil
		}
		return r.PostFormValue(key), nil
	}
}

// tokenOf is the session token of a request: ?token=, Authorization: Bearer (auth.mode
// none: with jwt the header carries the JWT), or (POST) the body's token field.
func (s *Server) tokenOf(w http.ResponseWriter, r *http.Request) (string, error) {
	if t := r.URL.Query().Get("token"); t != "" {
		return t, nil
	}
	if s.opt.Auth == nil {
		if t, ok := bearer(r); ok {
			return t, nil
		}
	}
	return s.field(w, r, "token")
}

func bearer(r *http.Request) (string, bool) {
	scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	t = strings.TrimSpace(t)
	return t, t != ""
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusRequestEntityTooLarge, detail(fmt.Sprintf("Request body larger than %d bytes", s.opt.MaxRequestBytes)))
}

func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.log.Warn(what+" failed", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, detail("Service unavailable: "+what+" failed, try again"))
}

// POST /token: create a session; with auth.mode jwt one owned by the caller, named after
// the JWT's name claim when it is a valid name, else after the name given. Refused with 503
// while Redis is above limits.redis_memory_high (memguard.go).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	id, ok := s.caller(w, r)
	if !ok {
		return
	}
	if s.full() {
		s.refuseFull(w)
		return
	}
	if ok, wait := s.ipLim.allow(clientOf(r).key); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, detail(fmt.Sprintf(
			"Too many sessions created from this address (limit %d per minute): try again in %ds",
			s.opt.SessionsPerMinutePerIP, secs)))
		return
	}
	raw, err := s.field(w, r, "name")
	if errors.Is(err, errTooLarge) {
		s.tooLarge(w)
		return
	}
	name, ok := chat.ValidName(id.Name)
	if !ok {
		name, ok = chat.ValidName(raw)
	}
	if !ok {
		writeJSON(w, http.StatusBadRequest, errBodyName)
		return
	}
	var sess chat.Session
	if s.opt.Auth == nil {
		sess, err = s.st.CreateSession(r.Context(), name)
	} else {
		sess, err = s.st.CreateSessionFor(r.Context(), id.User, name, s.opt.SessionsPerMinutePerUser)
	}
	var rl *store.RateLimitError
	switch {
	case errors.As(err, &rl):
		s.userRateLimited(w, rl.RetryAfter)
		return
	case err != nil:
		s.unavailable(w, "creating the session", err)
		return
	}
	s.log.Debug("session created", "session", tokenHash(sess.Token))
	writeJSON(w, http.StatusOK, sess)
}

// GET or POST /refresh_token: the session with its history; slides its TTL.
func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request) {
	id, ok := s.caller(w, r)
	if !ok {
		return
	}
	token, err := s.tokenOf(w, r)
	if errors.Is(err, errTooLarge) {
		s.tooLarge(w)
		return
	}
	var sess chat.Session
	if s.opt.Auth == nil {
		sess, err = s.st.GetSession(r.Context(), token, true)
	} else {
		sess, err = s.st.GetSessionOf(r.Context(), id.User, token, true)
	}
	switch {
	case errors.Is(err, store.ErrSessionNotFound):
		writeJSON(w, http.StatusBadRequest, errBodySession)
	case err != nil:
		s.unavailable(w, "reading the session", err)
	default:
		writeJSON(w, http.StatusOK, sess)
	}
}

// DELETE /token: remove the session; its sockets (on every serve) close with 1008. Deleting
// a session that does not exist (any more) succeeds too: it is gone either way. With auth.mode
// jwt, a session of someone else is answered the same and left alone.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	id, ok := s.caller(w, r)
	if !ok {
		return
	}
	token, _ := s.tokenOf(w, r)
	if token == "" {
		writeJSON(w, http.StatusBadRequest, detail("Missing token: DELETE /token?token=TOKEN"))
		return
	}
	var existed bool
	var err error
	if s.opt.Auth == nil {
		existed, err = s.st.DeleteSession(r.Context(), token)
	} else {
		existed, err = s.st.DeleteSessionOf(r.Context(), id.User, token)
	}
	if err != nil {
		s.unavailable(w, "deleting the session", err)
		return
	}
	if existed {
		s.log.Debug("session deleted", "session", tokenHash(token))
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /healthz: the process serves.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// GET /readyz: Redis answers, the notification subscriber is connected (else replies would
// not reach this server's sockets) and the server is not shutting down. Which Redis does not
// answer, and why, is told on server.admin_addr (private) and logged, never on the public port.
func (s *Server) readyz(private bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.ctx.Err() != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.st.Ping(ctx); err != nil {
			why := "redis " + s.st.Addr() + " does not answer: " + err.Error()
			s.log.Warn("not ready", "err", why)
			if !private {
				why = "redis does not answer"
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": why})
			return
		}
		if !s.fanout.sub.Connected() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{
				"status": "unavailable", "detail": "the notification subscriber is not connected to Redis yet"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// GET /test: the tutorial's health check.
func (s *Server) apiTest(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"msg": "API is Online"})
}
