package web

import (
	"errors"
	"net/http"
	"time"

	"chatbot/pkg/store"
)

// usageBody is the answer of GET /usage (docs/PROTOCOL.md).
type usageBody struct {
	Day              string    `json:"day"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	Turns            int64     `json:"turns"`
	Limit            int64     `json:"limit"`
	Granted          int64     `json:"granted"`
	ResetsAt         time.Time `json:"resets_at"`
}

// GET /usage: the caller's token usage of the current UTC day: with auth.mode jwt the user's
// (all their sessions), with mode none the session's of ?token= (the session stands in for
// the user).
func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.caller(w, r)
	if !ok {
		return
	}
	var (
		u   store.DayUsage
		err error
	)
	if s.opt.Auth == nil {
		var token string
		if token, err = s.tokenOf(w, r); err == nil {
			u, err = s.st.Usage(r.Context(), "", token)
		}
	} else {
		u, err = s.st.Usage(r.Context(), id.User, "")
	}
	switch {
	case errors.Is(err, store.ErrSessionNotFound):
		writeJSON(w, http.StatusBadRequest, errBodySession)
	case err != nil:
		s.unavailable(w, "reading the usage", err)
	default:
		writeJSON(w, http.StatusOK, usageBody{Day: u.Day, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
			Turns: u.Turns, Limit: u.Limit, Granted: u.Granted, ResetsAt: u.ResetsAt})
	}
}
