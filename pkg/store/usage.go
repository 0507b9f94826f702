package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"chatbot/pkg/chat"

	"github.com/redis/rueidis"
)

// Budget configures the accounting of tokens per user and UTC day (issue "Usage and
// budgets"): with auth.mode jwt on the user's day key (Keys.UserUsage), with mode none on the
// session's hash (fields usageFields), the session standing in for the user.
type Budget struct {
	// TokensPerDay is the day's budget of prompt + completion tokens per user
	// (limits.tokens_per_day_per_user); 0: none (usage is counted all the same).
	TokensPerDay int64
	// ReplyTokens is what a turn reserves beyond its prompt's estimate (llm.max_tokens, plus
	// the system prompt's estimate): parallel turns of one user overshoot the budget by at
	// most their reservations.
	ReplyTokens int64
	// Hold is the longest a reservation outlives a worker that died mid-turn (the next
	// attempt at the turn replaces it sooner). Default 5m.
	Hold time.Duration
	// Keep is how long a user's day is kept after it ends (GET /usage, chatbot usage show).
	// Default 48h.
	Keep time.Duration
	// Now is the clock of the UTC day; default time.Now (tests move it).
	Now func() time.Time
}

func (b *Budget) defaults() {
	if b.Hold <= 0 {
		b.Hold = 5 * time.Minute
	}
	if b.Keep <= 0 {
		b.Keep = 48 * time.Hour
	}
	if b.Now == nil {
		b.Now = time.Now
	}
}

// day is the UTC day of t as the usage keys and fields name it.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// dayEnd is the end of t's UTC day: when the budget is new again (retry_at, resets_at).
func dayEnd(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// DayUsage is a user's usage of one UTC day.
type DayUsage struct {
	Day              string
	PromptTokens     int64
	CompletionTokens int64
	Turns            int64
	// Granted is what was added to the day's budget by hand (Grant).
	Granted int64
	// Limit is the day's budget (Budget.TokensPerDay + Granted); 0: none.
	Limit int64
	// ResetsAt is the end of the day: the budget is new from then on.
	ResetsAt time.Time
}

// Spent reports whether the day's budget is used up.
func (u DayUsage) Spent() bool { return u.Limit > 0 && u.PromptTokens+u.CompletionTokens >= u.Limit }

// usagePrefix starts the usage fields of a session's hash (auth.mode none: usage.lua's pf).
const usagePrefix = "usage_"

// reservationField is the field of session token's reservation in its user's day key.
func reservationField(token string) string { return "r:" + UserTag(token)[:16] }

// Usage reads the usage of today (Budget.Now) of user (auth.mode jwt: the sub) or, for user
// "", of the session token. ErrSessionNotFound: user is "" and the session does not exist.
func (s *Store) Usage(ctx context.Context, user, token string) (DayUsage, error) {
	now := s.opt.Budget.Now()
	u := DayUsage{Day: day(now), ResetsAt: dayEnd(now)}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var (
		vals []rueidis.RedisMessage
		err  error
	)
	if user != "" {
		vals, err = s.rdb.Do(ctx, s.rdb.B().Hmget().Key(s.keys.UserUsage(user, u.Day)).
			Field("day", "prompt", "completion", "turns", "grant").Build()).ToArray()
	} else {
		if !chat.ValidToken(token) {
			return u, ErrSessionNotFound
		}
		vals, err = s.rdb.Do(ctx, s.rdb.B().Hmget().Key(s.keys.Session(token)).
			Field(usagePrefix+"day", usagePrefix+"prompt", usagePrefix+"completion", usagePrefix+"turns", usagePrefix+"grant", "name").Build()).ToArray()
		if err == nil && vals[5].IsNil() {
			return u, ErrSessionNotFound
		}
	}
	if err != nil {
		return u, fmt.Errorf("read usage: %w", err)
	}
	if d, _ := vals[0].ToString(); d == u.Day {
		u.PromptTokens, u.CompletionTokens, u.Turns, u.Granted = intOf(vals[1]), intOf(vals[2]), intOf(vals[3]), intOf(vals[4])
	}
	if s.opt.Budget.TokensPerDay > 0 {
		u.Limit = s.opt.Budget.TokensPerDay + u.Granted
	}
	return u, nil
}

func intOf(m rueidis.RedisMessage) int64 {
	v, _ := m.ToString()
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

var grantScript = luaScript("usage_grant.lua", "usage.lua")

// Grant adds tokens (negative: takes them back) to today's budget of user (auth.mode jwt) or,
// for user "", of the session token, and returns the day's usage.
func (s *Store) Grant(ctx context.Context, user, token string, tokens int64) (DayUsage, error) {
	now := s.opt.Budget.Now()
	d := day(now)
	key, pf, expire := s.keys.UserUsage(user, d), "", s.keepFor(now)
	if user == "" {
		if !chat.ValidToken(token) {
			return DayUsage{}, ErrSessionNotFound
		}
		key, pf, expire = s.keys.Session(token), usagePrefix, 0
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	status, rest, err := reply(grantScript.Exec(ctx, s.rdb, []string{key},
		[]string{pf, d, strconv.FormatInt(tokens, 10), ms(expire)}))
	if err != nil {
		return DayUsage{}, fmt.Errorf("grant: %w", err)
	}
	switch status {
	case "ok":
	case "gone":
		return DayUsage{}, ErrSessionNotFound
	default:
		return DayUsage{}, fmt.Errorf("grant: unexpected reply %q", status)
	}
	u := DayUsage{Day: d, ResetsAt: dayEnd(now)}
	u.PromptTokens, _ = rest[0].AsInt64()
	u.CompletionTokens, _ = rest[1].AsInt64()
	u.Turns, _ = rest[2].AsInt64()
	u.Granted, _ = rest[3].AsInt64()
	if s.opt.Budget.TokensPerDay > 0 {
		u.Limit = s.opt.Budget.TokensPerDay + u.Granted
	}
	return u, nil
}

// keepFor is how long a user's day key of now's day is kept: until Budget.Keep after the day
// ends (by the budget's clock, so a clock moved by a test keeps it too).
func (s *Store) keepFor(now time.Time) int64 {
	return (dayEnd(now).Sub(now) + s.opt.Budget.Keep).Milliseconds()
}

var (
	reserveScript = luaScript("usage_reserve.lua", "usage.lua")
	settleScript  = luaScript("usage_settle.lua", "usage.lua")
)

// Reserve is auth.mode jwt's budget check of turn t before its model call (with mode none,
// BeginTurn made it): ErrQuota when the user's day is spent, else the turn's tokens are held
// (Budget.ReplyTokens and t.PromptEstimate) until Settle. With no budget it does nothing.
func (s *Store) Reserve(ctx context.Context, t Turn) error {
	b := s.opt.Budget
	if b.TokensPerDay <= 0 || t.User == "" {
		return nil
	}
	now := b.Now()
	d := day(now)
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	wall := time.Now().UnixMilli()
	status, _, err := reply(reserveScript.Exec(ctx, s.rdb, []string{s.keys.UserUsage(t.User, d)}, []string{
		d, ms(wall), reservationField(t.Token), t.Holder, strconv.FormatInt(b.ReplyTokens+t.PromptEstimate, 10),
		ms(wall + b.Hold.Milliseconds()), strconv.FormatInt(b.TokensPerDay, 10), ms(s.keepFor(now)),
	}))
	if err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	switch status {
	case "ok":
		return nil
	case "quota":
		return ErrQuota
	}
	return fmt.Errorf("reserve: unexpected reply %q", status)
}

// RetryAt is when a refused user may try again: the end of today (Budget.Now).
func (s *Store) RetryAt() time.Time { return dayEnd(s.opt.Budget.Now()) }

// settle adds the usage of turn t (auth.mode jwt: t.User) to its user's day and drops the
// turn's reservation, if t made model calls (t.Usage). FinishTurn runs it alongside its own
// script: rueidis pipelines the two, so it adds no round trip.
func (s *Store) settle(ctx context.Context, t Turn) error {
	if t.User == "" || t.Usage == nil {
		return nil
	}
	now := s.opt.Budget.Now()
	d := day(now)
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	err := settleScript.Exec(ctx, s.rdb, []string{s.keys.UserUsage(t.User, d)}, []string{
		d, strconv.FormatInt(t.Usage.PromptTokens, 10), strconv.FormatInt(t.Usage.CompletionTokens, 10),
		reservationField(t.Token), t.Holder, ms(s.keepFor(now)),
	}).Error()
	if err != nil {
		return fmt.Errorf("settle usage: %w", err)
	}
	return nil
}
