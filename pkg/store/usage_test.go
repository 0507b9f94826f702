package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// clock is a budget clock a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// answerWithUsage begins and finishes the session's next turn as a worker does, with usage u.
func answerWithUsage(t *testing.T, s *store.Store, token, holder string, u chat.Usage) store.Turn {
	t.Helper()
	ctx := t.Context()
	turn, state, err := s.BeginTurn(ctx, token, holder, 10, 5*time.Second)
	if err != nil || state != store.TurnReady {
		t.Fatalf("begin: %v %v", state, err)
	}
	if turn.Quota {
		return turn
	}
	if err := s.Reserve(ctx, turn); err != nil {
		if errors.Is(err, store.ErrQuota) {
			turn.Quota = true
			return turn
		}
		t.Fatal(err)
	}
	turn.Usage = &u
	reply, ev := botReply(turn, "echo")
	reply.Usage = &u
	if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
		t.Fatalf("finish: %v", err)
	}
	return turn
}

// The day's tokens count per user (auth.mode jwt: all their sessions) or per session (none);
// at or over limits.tokens_per_day_per_user a message is refused at send (not kept), a turn is
// refused before its model call; a grant raises the day's budget; the next UTC day starts
// afresh.
func TestUsageBudget(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		for _, user := range []string{"", "alice"} {
			name := "none"
			if user != "" {
				name = "jwt"
			}
			t.Run(name, func(t *testing.T) {
				clk := &clock{now: time.Date(2030, 1, 2, 23, 0, 0, 0, time.UTC)}
				s, ctx := setup(t, b, store.Options{Budget: store.Budget{TokensPerDay: 100, ReplyTokens: 10, Now: clk.Now}})
				lim := store.SendLimits{MaxPending: 10, MessagesPerMinute: 100, User: user, MessagesPerMinutePerUser: 100}
				newSession := func() string {
					if user == "" {
						sess, err := s.CreateSession(ctx, "a")
						if err != nil {
							t.Fatal(err)
						}
						return sess.Token
					}
					sess, err := s.CreateSessionFor(ctx, user, "a", 100)
					if err != nil {
						t.Fatal(err)
					}
					return sess.Token
				}
				tok := newSession()
				if _, err := s.Send(ctx, tok, human("one"), lim); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Send(ctx, tok, human("two"), lim); err != nil {
					t.Fatal(err)
				}
				if turn := answerWithUsage(t, s, tok, "w1", chat.Usage{PromptTokens: 60, CompletionTokens: 50}); turn.Quota {
					t.Fatal("first turn refused")
				}
				u, err := s.Usage(ctx, user, tok)
				if err != nil || u.Day != "2030-01-02" || u.PromptTokens != 60 || u.CompletionTokens != 50 || u.Turns != 1 ||
					u.Limit != 100 || !u.ResetsAt.Equal(time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)) {
					t.Fatalf("usage %+v %v", u, err)
				}
				// Spent: the queued second message's turn is refused, a new message is not kept.
				if turn := answerWithUsage(t, s, tok, "w1", chat.Usage{}); !turn.Quota {
					t.Fatal("a turn over the budget was not refused")
				}
				if _, err := s.Send(ctx, tok, human("three"), lim); !errors.Is(err, store.ErrQuota) {
					t.Fatalf("send over the budget: %v", err)
				}
				if user != "" {
					// Every session of the user shares the budget.
					if _, err := s.Send(ctx, newSession(), human("elsewhere"), lim); !errors.Is(err, store.ErrQuota) {
						t.Fatalf("another session of the user: %v", err)
					}
					// Reading a session (/refresh_token) is not refused.
					if _, err := s.GetSessionOf(ctx, user, tok, true); err != nil {
						t.Fatalf("reading a session over the budget: %v", err)
					}
				}
				if _, err := s.Usage(ctx, "", "00000000-0000-4000-8000-000000000000"); user == "" && !errors.Is(err, store.ErrSessionNotFound) {
					t.Fatalf("usage of no session: %v", err)
				}
				// A grant raises the day's budget at once.
				if g, err := s.Grant(ctx, user, tok, 50); err != nil || g.Granted != 50 || g.Limit != 150 || g.PromptTokens != 60 {
					t.Fatalf("grant %+v %v", g, err)
				}
				if _, err := s.Send(ctx, tok, human("four"), lim); err != nil {
					t.Fatalf("send after a grant: %v", err)
				}
				// The next UTC day: nothing used, nothing granted.
				clk.set(time.Date(2030, 1, 3, 0, 0, 1, 0, time.UTC))
				if u, err := s.Usage(ctx, user, tok); err != nil || u.Day != "2030-01-03" || u.PromptTokens != 0 || u.Turns != 0 || u.Granted != 0 {
					t.Fatalf("next day %+v %v", u, err)
				}
				if _, err := s.Send(ctx, tok, human("five"), lim); err != nil {
					t.Fatalf("send the next day: %v", err)
				}
				if turn := answerWithUsage(t, s, tok, "w1", chat.Usage{PromptTokens: 1, CompletionTokens: 2}); turn.Quota {
					t.Fatal("the next day's turn refused")
				}
				if u, _ := s.Usage(ctx, user, tok); u.PromptTokens != 1 || u.CompletionTokens != 2 || u.Turns != 1 {
					t.Fatalf("next day after a turn %+v", u)
				}
			})
		}
	})
}

// auth.mode jwt: a turn reserves llm.max_tokens (ReplyTokens) plus its prompt's estimate, so
// the user's other turns see the budget as taken while it runs; settling drops the
// reservation, and only the attempt that made it can drop it.
func TestUsageReservations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Budget: store.Budget{TokensPerDay: 100, ReplyTokens: 90}})
		lim := store.SendLimits{MaxPending: 10, MessagesPerMinute: 100, User: "bob", MessagesPerMinutePerUser: 100}
		var turns []store.Turn
		for range 2 {
			sess, err := s.CreateSessionFor(ctx, "bob", "a", 100)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(ctx, sess.Token, human("hi"), lim); err != nil {
				t.Fatal(err)
			}
			turn, _, err := s.BeginTurn(ctx, sess.Token, "w-"+sess.Token, 10, 5*time.Second)
			if err != nil || turn.User != "bob" || turn.PromptEstimate <= 0 {
				t.Fatalf("begin %+v %v", turn, err)
			}
			turns = append(turns, turn)
		}
		if err := s.Reserve(ctx, turns[0]); err != nil {
			t.Fatal(err)
		}
		// 90 + the estimate held by the first: the second finds the budget taken.
		if err := s.Reserve(ctx, turns[1]); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("second reservation: %v", err)
		}
		// Another attempt at the first session's turn replaces its reservation.
		again := turns[0]
		again.Holder = "w-again"
		if err := s.Reserve(ctx, again); err != nil {
			t.Fatalf("a later attempt at the same turn: %v", err)
		}
		// The first attempt finishes late: its tokens count, the later attempt's hold stays.
		turns[0].Usage = &chat.Usage{PromptTokens: 5, CompletionTokens: 5}
		reply, ev := botReply(turns[0], "x")
		if _, err := s.FinishTurn(ctx, turns[0], reply, ev); err != nil {
			t.Fatal(err)
		}
		if err := s.Reserve(ctx, turns[1]); !errors.Is(err, store.ErrQuota) {
			t.Fatalf("after a stale settle: %v", err)
		}
		// The later attempt finishes too (refused: the turn is stored), and its settle, which goes
		// beside the finish whatever it answers, drops its reservation: the budget is free again.
		again.Usage = &chat.Usage{PromptTokens: 1, CompletionTokens: 1}
		if _, err := s.FinishTurn(ctx, again, reply, ev); err == nil {
			t.Fatalf("the later attempt's finish: %v", err)
		}
		if err := s.Reserve(ctx, turns[1]); err != nil {
			t.Fatalf("after the holder settled: %v", err)
		}
		if u, err := s.Usage(ctx, "bob", ""); err != nil || u.PromptTokens != 6 || u.CompletionTokens != 6 || u.Turns != 2 {
			t.Fatalf("usage %+v %v", u, err)
		}
	})
}
