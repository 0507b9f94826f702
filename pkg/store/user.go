package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

// Sessions owned by users (auth.mode jwt). A session made for a user keeps the user's sub in
// its hash (field user): every read and delete for a user checks it in the same script, so a
// session of someone else answers exactly as one that does not exist. Each user has an index
// of their sessions (Keys.UserSessions), a sorted set scored by last activity: creating,
// sending and reading a session mark it; members older than session.ttl leave it (pruned on
// every write and read), and the index itself expires session.ttl after its last write, so it
// holds at most the sessions that are still alive.

// CreateSessionFor makes a session owned by user (a JWT's sub) and adds it to the user's
// index. perMinute bounds the sessions the user may create per minute (0: no limit); over it
// the error is a *RateLimitError (User set).
func (s *Store) CreateSessionFor(ctx context.Context, user, name string, perMinute int) (chat.Session, error) {
	token := uuid.NewString()
	// Indexed first: a session that then fails to be created is pruned from the index by the
	// next read (its hash does not exist).
	if err := s.touchUser(ctx, user, s.keys.UserCreated(user), token, perMinute, false); err != nil {
		return chat.Session{}, err
	}
	return s.createSession(ctx, user, token, name)
}

// GetSessionOf is GetSession for user: a session of someone else is ErrSessionNotFound.
// touch also marks the session active in the user's index.
func (s *Store) GetSessionOf(ctx context.Context, user, token string, touch bool) (chat.Session, error) {
	sess, err := s.getSession(ctx, user, token, touch)
	if err == nil && touch {
		if err := s.touchUser(ctx, user, s.keys.UserMessages(user), token, 0, false); err != nil {
			return chat.Session{}, err
		}
	}
	return sess, err
}

// DeleteSessionOf is DeleteSession for user: a session of someone else is left alone and
// reported as not existing. The session leaves the user's index.
func (s *Store) DeleteSessionOf(ctx context.Context, user, token string) (bool, error) {
	existed, err := s.deleteSession(ctx, user, token)
	if err != nil || !existed {
		return existed, err
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	zrem := s.rdb.B().Zrem().Key(s.keys.UserSessions(user)).Member(token).Build().Pin()
	if err := againResult(ctx, func() rueidis.RedisResult { return s.rdb.Do(ctx, zrem) }).Error(); err != nil {
		return true, fmt.Errorf("remove the session from its user's index: %w", err)
	}
	return true, nil
}

// IsSessionOf reports whether token names a live session of user, without sliding its TTL.
func (s *Store) IsSessionOf(ctx context.Context, user, token string) (bool, error) {
	if !chat.ValidToken(token) || user == "" {
		return false, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	owner, err := s.rdb.Do(ctx, s.rdb.B().Hget().Key(s.keys.Session(token)).Field("user").Build()).ToString()
	if isNil(err) {
		return false, nil
	}
	return err == nil && owner == user, err
}

var userTouchScript = luaScript("touch_user.lua", "usage.lua", "user_step.lua")

// touchUser counts one action of user against counter's per-minute limit (0: none) and marks
// the session token active in the user's index, in one script on the user's slot. Repeated on a
// broken connection: at worst the action counts twice against the limit. With budget (a
// message), the user's day of tokens is checked first: ErrQuota when it is spent.
func (s *Store) touchUser(ctx context.Context, user, counter, token string, limit int, budget bool) error {
	if user == "" || !chat.ValidToken(token) {
		return ErrSessionNotFound
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	keys := []string{s.keys.UserSessions(user), counter}
	args := []string{ms(time.Now().UnixMilli()), ms(s.opt.SessionTTL.Milliseconds()), token, strconv.Itoa(max(limit, 0))}
	if budget && s.opt.Budget.TokensPerDay > 0 {
		d := day(s.opt.Budget.Now())
		keys = append(keys, s.keys.UserUsage(user, d))
		args = append(args, d, strconv.FormatInt(s.opt.Budget.TokensPerDay, 10))
	}
	status, rest, err := reply(againResult(ctx, func() rueidis.RedisResult { return userTouchScript.Exec(ctx, s.rdb, keys, args) }))
	switch {
	case err != nil:
		return fmt.Errorf("user index: %w", err)
	case status == "quota":
		return ErrQuota
	case status == "rate_limited" && len(rest) == 1:
		left, _ := rest[0].AsInt64()
		return &RateLimitError{RetryAfter: time.Duration(max(left, 0)) * time.Millisecond, User: true}
	case status != "ok":
		return fmt.Errorf("user index: unexpected reply %q", status)
	}
	return nil
}

// ListSessions lists user's live sessions, most recently active first, limit at a time. The
// cursor is "" for the first page, then the Next of the page before (ErrBadCursor if it is not
// one). A session that becomes active while a client pages moves to the front: it may be seen
// twice or not at all in that walk.
func (s *Store) ListSessions(ctx context.Context, user, cursor string, limit int) (chat.SessionList, error) {
	out := chat.SessionList{Sessions: []chat.SessionSummary{}}
	if user == "" || limit <= 0 {
		return out, nil
	}
	top, after, err := parseCursor(cursor)
	if err != nil {
		return out, err
	}
	index := s.keys.UserSessions(user)
	now := time.Now().UnixMilli()
	oldest := ms(now - s.opt.SessionTTL.Milliseconds())
	maxScore := "+inf"
	if cursor != "" {
		maxScore = ms(top)
	}
	// Candidates come a page at a time (limit+1, to know whether a next page exists); entries
	// at the cursor's score up to and including the cursor's token were on an earlier page.
	for offset, pages := 0, 0; len(out.Sessions) <= limit && pages < 50; pages++ {
		cctx, cancel := s.timeout(ctx)
		// Safe to repeat: a prune and a read.
		res, _ := again(cctx, func() ([]rueidis.RedisResult, error) {
			res := s.rdb.DoMulti(cctx,
				s.rdb.B().Zremrangebyscore().Key(index).Min("-inf").Max("("+oldest).Build(),
				s.rdb.B().Zrange().Key(index).Min(maxScore).Max(oldest).Byscore().Rev().Limit(int64(offset), int64(limit+1)).Withscores().Build())
			return res, errors.Join(res[0].Error(), res[1].Error())
		})
		cancel()
		if err := res[0].Error(); err != nil {
			return out, fmt.Errorf("list sessions: %w", err)
		}
		page, err := res[1].AsZScores()
		if err != nil {
			return out, fmt.Errorf("list sessions: %w", err)
		}
		offset += len(page)
		var tokens []string
		var scores []int64
		for _, z := range page {
			score := int64(z.Score)
			if cursor != "" && score == top && z.Member >= after {
				continue
			}
			tokens, scores = append(tokens, z.Member), append(scores, score)
		}
		found, err := s.summaries(ctx, user, index, tokens, scores)
		if err != nil {
			return out, err
		}
		out.Sessions = append(out.Sessions, found...)
		if len(page) < limit+1 {
			break
		}
	}
	if len(out.Sessions) > limit {
		out.Sessions = out.Sessions[:limit]
		last := out.Sessions[limit-1]
		next := strconv.FormatInt(last.LastActive.UnixMilli(), 10) + "." + last.Token
		out.Next = &next
	}
	return out, nil
}

// summaries reads the sessions of tokens (in one round trip per node), drops those that are
// gone (and takes them out of the index) or not user's.
func (s *Store) summaries(ctx context.Context, user, index string, tokens []string, scores []int64) ([]chat.SessionSummary, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	cmds := make(rueidis.Commands, 0, 2*len(tokens))
	for _, t := range tokens {
		if !chat.ValidToken(t) {
			t = "00000000-0000-0000-0000-000000000000" // never issued: reads as gone
		}
		cmds = append(cmds,
			s.rdb.B().Hmget().Key(s.keys.Session(t)).Field("name", "start", "user", "title", "seq", "done").Build(),
			s.rdb.B().Llen().Key(s.keys.Messages(t)).Build())
	}
	cctx, cancel := s.timeout(ctx)
	res := s.rdb.DoMulti(cctx, cmds...)
	cancel()
	var out []chat.SessionSummary
	var gone []string
	for i, t := range tokens {
		h, err := res[2*i].ToArray()
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		name, nerr := h[0].ToString()
		owner, _ := h[2].ToString()
		if nerr != nil || owner != user {
			gone = append(gone, t)
			continue
		}
		startRaw, _ := h[1].ToString()
		start, _ := time.Parse(time.RFC3339Nano, startRaw)
		title, _ := h[3].ToString()
		msgs, _ := res[2*i+1].AsInt64()
		seq, _ := h[4].AsInt64()
		done, _ := h[5].AsInt64()
		pend := max(seq-done, 0) // the unanswered messages
		out = append(out, chat.SessionSummary{
			Token: t, Name: name, SessionStart: start, Title: title, Messages: int(msgs + pend),
			LastActive: time.UnixMilli(scores[i]).UTC(),
		})
	}
	if len(gone) > 0 {
		cctx, cancel := s.timeout(ctx)
		defer cancel()
		_ = s.rdb.Do(cctx, s.rdb.B().Zrem().Key(index).Member(gone...).Build()).Error() // best effort: the next read prunes them too
	}
	return out, nil
}

// parseCursor reads "ms.token", the position of the last session of a page.
func parseCursor(c string) (int64, string, error) {
	if c == "" {
		return 0, "", nil
	}
	score, token, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(score, 10, 64)
	if !ok || err != nil || n < 0 || !chat.ValidToken(token) {
		return 0, "", ErrBadCursor
	}
	return n, token, nil
}
