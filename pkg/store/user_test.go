package store_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// A session of another user reads, deletes and checks exactly as one that does not exist;
// its owner (and auth.mode none, which passes no user) sees it.
func TestSessionOwnership(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		sess, err := s.CreateSessionFor(ctx, "alice", "Alice's chat", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSessionOf(ctx, "alice", sess.Token, true); err != nil || got.Name != "Alice's chat" {
			t.Fatalf("owner reads: %+v %v", got, err)
		}
		if _, err := s.GetSessionOf(ctx, "bob", sess.Token, true); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("another user reads: %v, want ErrSessionNotFound", err)
		}
		if _, err := s.GetSession(ctx, sess.Token, false); err != nil {
			t.Fatalf("auth.mode none reads any session: %v", err)
		}
		for user, want := range map[string]bool{"alice": true, "bob": false, "alice ": false} {
			if ok, err := s.IsSessionOf(ctx, user, sess.Token); err != nil || ok != want {
				t.Fatalf("IsSessionOf(%q): %v %v, want %v", user, ok, err, want)
			}
		}
		// A session without an owner (made in auth.mode none) belongs to no user.
		anon, _ := s.CreateSession(ctx, "anon")
		if ok, err := s.IsSessionOf(ctx, "alice", anon.Token); err != nil || ok {
			t.Fatalf("an unowned session: %v %v", ok, err)
		}
		if _, err := s.GetSessionOf(ctx, "alice", anon.Token, false); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("an unowned session read by a user: %v", err)
		}
		if existed, err := s.DeleteSessionOf(ctx, "bob", sess.Token); err != nil || existed {
			t.Fatalf("another user deletes: %v %v, want false", existed, err)
		}
		if _, err := s.GetSessionOf(ctx, "alice", sess.Token, false); err != nil {
			t.Fatalf("the session went when another user deleted it: %v", err)
		}
		if existed, err := s.DeleteSessionOf(ctx, "alice", sess.Token); err != nil || !existed {
			t.Fatalf("owner deletes: %v %v", existed, err)
		}
		if list, err := s.ListSessions(ctx, "alice", "", 10); err != nil || len(list.Sessions) != 0 {
			t.Fatalf("list after delete: %+v %v", list, err)
		}
		if n, _ := s.Client().Do(ctx, s.Client().B().Zcard().Key(s.Keys().UserSessions("alice")).Build()).AsInt64(); n != 0 {
			t.Fatalf("the deleted session stayed in the index (%d members)", n)
		}
	})
}

// limits.sessions_per_minute_per_user and limits.messages_per_minute_per_user: the user's
// counts cover all their sessions; another user is not affected.
func TestUserLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		var sessions []chat.Session
		for range 2 {
			sess, err := s.CreateSessionFor(ctx, "carol", "c", 2)
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, sess)
		}
		_, err := s.CreateSessionFor(ctx, "carol", "c", 2)
		var rl *store.RateLimitError
		if !errors.As(err, &rl) || !rl.User || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute || !errors.Is(err, store.ErrRateLimited) {
			t.Fatalf("third session in a minute: %v, want a user *RateLimitError", err)
		}
		if _, err := s.CreateSessionFor(ctx, "dave", "d", 2); err != nil {
			t.Fatalf("another user: %v", err)
		}

		ulim := store.SendLimits{MaxPending: 10, MessagesPerMinute: 10, User: "carol", MessagesPerMinutePerUser: 3}
		for i, sess := range []chat.Session{sessions[0], sessions[1], sessions[0]} {
			if _, err := s.Send(ctx, sess.Token, human("m"+strconv.Itoa(i)), ulim); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		_, err = s.Send(ctx, sessions[1].Token, human("over"), ulim)
		if !errors.As(err, &rl) || !rl.User || !errors.Is(err, store.ErrRateLimited) {
			t.Fatalf("fourth message of the user: %v, want a user *RateLimitError", err)
		}
		got, _ := s.GetSessionOf(ctx, "carol", sessions[1].Token, false)
		if len(got.Messages) != 1 {
			t.Fatalf("the refused message was kept: %d messages", len(got.Messages))
		}
		// The session's own limit still applies, and says so.
		slim := store.SendLimits{MaxPending: 10, MessagesPerMinute: 1, User: "dave", MessagesPerMinutePerUser: 100}
		dsess, _ := s.CreateSessionFor(ctx, "dave", "d2", 0)
		s.Send(ctx, dsess.Token, human("a"), slim)
		if _, err := s.Send(ctx, dsess.Token, human("b"), slim); !errors.As(err, &rl) || rl.User {
			t.Fatalf("session limit: %v, want a session *RateLimitError", err)
		}
		// Every key of a user expires.
		for _, k := range []string{s.Keys().UserSessions("carol"), s.Keys().UserCreated("carol"), s.Keys().UserMessages("carol")} {
			ttl, err := s.Client().Do(ctx, s.Client().B().Pttl().Key(k).Build()).AsInt64()
			if err != nil || ttl <= 0 {
				t.Fatalf("%s: pttl %d %v, want an expiry", k, ttl, err)
			}
		}
	})
}

// The first message of a user's session is its title, cut to 80 characters; later ones do
// not change it.
func TestSessionTitle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		sess, _ := s.CreateSessionFor(ctx, "erin", "e", 0)
		ulim := store.SendLimits{MaxPending: 10, MessagesPerMinute: 10, User: "erin"}
		first := "How do I  make\nbread? " + "It needs to be a long question, longer than eighty characters in all."
		if _, err := s.Send(ctx, sess.Token, human(first), ulim); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(ctx, sess.Token, human("second"), ulim); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListSessions(ctx, "erin", "", 10)
		if err != nil || len(list.Sessions) != 1 {
			t.Fatalf("list: %+v %v", list, err)
		}
		if got, want := list.Sessions[0].Title, chat.Title(first); got != want || len([]rune(got)) != 80 {
			t.Fatalf("title %q, want %q", got, want)
		}
		if list.Sessions[0].Messages != 2 {
			t.Fatalf("messages %d, want 2", list.Sessions[0].Messages)
		}
	})
}

// GET /sessions' store side: only the user's live sessions, most recently active first,
// paged by a cursor that never repeats or skips one, even among equal scores.
func TestListSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		var tokens []string
		for i := range 5 {
			sess, err := s.CreateSessionFor(ctx, "frank", "f"+strconv.Itoa(i), 0)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, sess.Token)
			time.Sleep(2 * time.Millisecond) // distinct activity times (ms) for the order check
		}
		other, _ := s.CreateSessionFor(ctx, "grace", "g", 0)
		// Activity moves a session to the front: a message on the oldest, a read of the second.
		if _, err := s.Send(ctx, tokens[0], human("hi"), store.SendLimits{MaxPending: 5, MessagesPerMinute: 5, User: "frank"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		if _, err := s.GetSessionOf(ctx, "frank", tokens[1], true); err != nil {
			t.Fatal(err)
		}
		want := []string{tokens[1], tokens[0], tokens[4], tokens[3], tokens[2]}
		if got := walk(t, s, "frank", 2); !equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		first, _ := s.ListSessions(ctx, "frank", "", 10)
		for i := 1; i < len(first.Sessions); i++ {
			if first.Sessions[i].LastActive.After(first.Sessions[i-1].LastActive) {
				t.Fatalf("last_active out of order: %+v", first.Sessions)
			}
		}
		if first.Next != nil || first.Sessions[0].Name != "f1" || first.Sessions[0].SessionStart.IsZero() {
			t.Fatalf("first page: %+v", first)
		}
		if got := walk(t, s, "grace", 2); !equal(got, []string{other.Token}) {
			t.Fatalf("grace sees %v", got)
		}
		if got := walk(t, s, "nobody", 2); len(got) != 0 {
			t.Fatalf("a user without sessions sees %v", got)
		}

		// Equal activity times across page boundaries: each session once.
		c := s.Client()
		for _, tok := range tokens {
			c.Do(ctx, c.B().Zadd().Key(s.Keys().UserSessions("frank")).Xx().ScoreMember().ScoreMember(float64(time.Now().UnixMilli()), tok).Build())
		}
		for _, size := range []int{1, 2, 3, 5, 6} {
			got := walk(t, s, "frank", size)
			if len(got) != 5 || !sameSet(got, tokens) {
				t.Fatalf("page size %d over equal scores: %v", size, got)
			}
		}

		for _, bad := range []string{"x", "12", "12.not-a-token", "-1." + tokens[0], "1.2.3"} {
			if _, err := s.ListSessions(ctx, "frank", bad, 2); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
			}
		}
	})
}

// Sessions that expire leave the index; the index cannot outgrow the sessions alive.
func TestListSessionsExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Second})
		gone, _ := s.CreateSessionFor(ctx, "heidi", "old", 0)
		storetest.Eventually(t, 10*time.Second, "the session to expire", func() bool {
			ok, _ := s.IsSessionOf(ctx, "heidi", gone.Token)
			return !ok
		})
		alive, _ := s.CreateSessionFor(ctx, "heidi", "new", 0) // a write prunes the expired member
		c := s.Client()
		members, err := c.Do(ctx, c.B().Zrange().Key(s.Keys().UserSessions("heidi")).Min("0").Max("-1").Build()).AsStrSlice()
		if err != nil || !equal(members, []string{alive.Token}) {
			t.Fatalf("index %v %v, want only the live session", members, err)
		}
		if got := walk(t, s, "heidi", 5); !equal(got, []string{alive.Token}) {
			t.Fatalf("list %v", got)
		}
		// A member whose session vanished without the index knowing (deleted behind its back)
		// is not listed, and a read takes it out.
		c.Do(ctx, c.B().Del().Key(s.Keys().Session(alive.Token)).Build())
		if got := walk(t, s, "heidi", 5); len(got) != 0 {
			t.Fatalf("a vanished session is listed: %v", got)
		}
		if n, _ := c.Do(ctx, c.B().Zcard().Key(s.Keys().UserSessions("heidi")).Build()).AsInt64(); n != 0 {
			t.Fatalf("the vanished session stayed in the index")
		}
	})
}

// walk pages through a user's list and returns the tokens in order.
func walk(t *testing.T, s *store.Store, user string, size int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 100 {
		page, err := s.ListSessions(t.Context(), user, cursor, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Sessions) > size {
			t.Fatalf("page of %d, limit %d", len(page.Sessions), size)
		}
		for _, x := range page.Sessions {
			out = append(out, x.Token)
		}
		if page.Next == nil {
			return out
		}
		cursor = *page.Next
	}
	t.Fatal("the cursor never ends")
	return nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] != 1 {
			return false
		}
	}
	return len(a) == len(b)
}
