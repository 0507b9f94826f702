package store

import (
	"context"
	"fmt"
	"time"

	"chatbot/pkg/chat"

	"github.com/google/uuid"
)

// Safe to repeat: a second run sets the same fields.
var createScript = repeatableScript(sessionScript("create_session.lua"))

// CreateSession makes a session for name (already validated) with a new random token.
func (s *Store) CreateSession(ctx context.Context, name string) (chat.Session, error) {
	return s.createSession(ctx, "", uuid.NewString(), name)
}

// createSession makes the session token, owned by user ("" for none).
func (s *Store) createSession(ctx context.Context, user, token, name string) (chat.Session, error) {
	sess := chat.Session{
		Token:        token,
		Name:         name,
		SessionStart: time.Now().UTC().Truncate(time.Millisecond),
		Messages:     []chat.Message{},
	}
	err := s.evalSession(ctx, createScript, sess.Token, sess.Name, sess.SessionStart.Format(time.RFC3339Nano), user).Error()
	if err != nil {
		return chat.Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// Safe to repeat: a read (that may slide the TTL).
var getScript = repeatableScript(sessionScript("get_session.lua"))

// GetSession reads a session with its history followed by its pending messages. touch slides
// its TTL. An unknown token gives ErrSessionNotFound.
func (s *Store) GetSession(ctx context.Context, token string, touch bool) (chat.Session, error) {
	return s.getSession(ctx, "", token, touch)
}

// getSession is GetSession for the session's owner only (user ""; anyone).
func (s *Store) getSession(ctx context.Context, user, token string, touch bool) (chat.Session, error) {
	if !chat.ValidToken(token) {
		return chat.Session{}, ErrSessionNotFound
	}
	flag := "0"
	if touch {
		flag = "1"
	}
	arr, err := s.evalSession(ctx, getScript, token, flag, user).ToArray()
	if isNil(err) {
		return chat.Session{}, ErrSessionNotFound
	}
	if err != nil {
		return chat.Session{}, fmt.Errorf("read session: %w", err)
	}
	if len(arr) != 4 {
		return chat.Session{}, fmt.Errorf("read session: unexpected reply of %d elements", len(arr))
	}
	name, _ := arr[0].ToString()
	startRaw, _ := arr[1].ToString()
	start, _ := time.Parse(time.RFC3339Nano, startRaw)
	hist, _ := arr[2].AsStrSlice()
	pend, _ := arr[3].AsStrSlice()
	sess := chat.Session{Token: token, Name: name, SessionStart: start, Messages: make([]chat.Message, 0, len(hist)+len(pend))}
	for _, raw := range append(hist, pend...) {
		m, err := chat.DecodeMessage([]byte(raw))
		if err != nil {
			continue // a damaged entry is skipped rather than failing the whole session
		}
		sess.Messages = append(sess.Messages, m)
	}
	return sess, nil
}

// SessionExists reports whether token names a live session, without sliding its TTL.
func (s *Store) SessionExists(ctx context.Context, token string) (bool, error) {
	if !chat.ValidToken(token) {
		return false, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	n, err := s.rdb.Do(ctx, s.rdb.B().Exists().Key(s.keys.Session(token)).Build()).AsInt64()
	return n == 1, err
}

// SessionTTL is how long the session has left unless something slides its TTL; 0 and no
// error when it no longer exists (expired or deleted).
func (s *Store) SessionTTL(ctx context.Context, token string) (time.Duration, error) {
	if !chat.ValidToken(token) {
		return 0, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	ms, err := s.rdb.Do(ctx, s.rdb.B().Pttl().Key(s.keys.Session(token)).Build()).AsInt64()
	switch {
	case err != nil:
		return 0, err
	case ms == -2:
		return 0, nil
	case ms < 0: // no TTL: cannot happen for a session this project made; check again later
		return s.opt.SessionTTL, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Safe to repeat: a second run finds nothing to delete.
var deleteScript = repeatableScript(sessionScript("delete_session.lua"))

// DeleteSession removes every key of the session and tells its sockets (they close 1008).
// It reports whether the session existed.
func (s *Store) DeleteSession(ctx context.Context, token string) (bool, error) {
	return s.deleteSession(ctx, "", token)
}

// deleteSession is DeleteSession for the session's owner only (user "": anyone).
func (s *Store) deleteSession(ctx context.Context, user, token string) (bool, error) {
	if !chat.ValidToken(token) {
		return false, nil
	}
	n, err := s.evalSession(ctx, deleteScript, token, user).AsInt64()
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	return n == 1, nil
}

// TTL is how long the session has left (tests and ops); 0 when it does not exist.
func (s *Store) TTL(ctx context.Context, token string) (time.Duration, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	n, err := s.rdb.Do(ctx, s.rdb.B().Pttl().Key(s.keys.Session(token)).Build()).AsInt64()
	if err != nil || n < 0 {
		return 0, err
	}
	return time.Duration(n) * time.Millisecond, nil
}

var appendScript = sessionScript("append_history.lua")

// AppendHistory appends messages to the history directly (ops and tests; workers use
// FinishTurn), capped at the history maximum.
func (s *Store) AppendHistory(ctx context.Context, token string, msgs ...chat.Message) error {
	args := []string{s.historyCaps()}
	for _, m := range msgs {
		b, err := chat.Marshal(m)
		if err != nil {
			return err
		}
		args = append(args, string(b))
	}
	n, err := s.evalSession(ctx, appendScript, token, args...).AsInt64()
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	if n < 0 {
		return ErrSessionNotFound
	}
	return nil
}

// History reads the whole kept history.
func (s *Store) History(ctx context.Context, token string) ([]chat.Message, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	raw, err := s.rdb.Do(ctx, s.rdb.B().Lrange().Key(s.keys.Messages(token)).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return decodeMessages(raw), nil
}

func decodeMessages(raw []string) []chat.Message {
	out := make([]chat.Message, 0, len(raw))
	for _, r := range raw {
		if m, err := chat.DecodeMessage([]byte(r)); err == nil {
			out = append(out, m)
		}
	}
	return out
}
