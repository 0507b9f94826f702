package store_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// answer runs one turn of the session to its end with reply text ("" fails it: no reply).
func answer(t *testing.T, s *store.Store, token, text string) store.Turn {
	t.Helper()
	ctx := t.Context()
	turn, state, err := s.BeginTurn(ctx, token, "w", 10, 5*time.Second)
	if err != nil || state != store.TurnReady {
		t.Fatalf("begin: %v %v", state, err)
	}
	if text == "" {
		if _, err := s.FinishTurn(ctx, turn, nil, chat.ErrorEvent(chat.CodeModelError, "no", turn.Message.ID)); err != nil {
			t.Fatal(err)
		}
		return turn
	}
	reply, ev := botReply(turn, text)
	if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
		t.Fatal(err)
	}
	return turn
}

func texts(t *testing.T, s *store.Store, token string) []string {
	t.Helper()
	sess, err := s.GetSession(t.Context(), token, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range sess.Messages {
		out = append(out, m.Role+":"+m.Msg)
	}
	return out
}

// Regenerate queues the last user message again, as a turn of its own: the worker gets the
// message with the history before it, and the new reply takes the old one's place in the
// history (the old one is dropped). Its ack names both; the pending regeneration is no message
// (GetSession does not show it); a second regenerate meanwhile is refused, the same client_id
// is a duplicate.
func TestRegenerateReplacesTheLastReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		answer(t, s, sess.Token, "first one")
		two := human("two")
		s.Send(ctx, sess.Token, two, lim)
		answer(t, s, sess.Token, "first two")
		before := texts(t, s, sess.Token)
		old := must(s.GetSession(ctx, sess.Token, false)).Messages[3]

		r, err := s.Regenerate(ctx, sess.Token, "r-1", "c-1", lim)
		if err != nil || r.Duplicate || r.Seq != 3 || r.ID != "r-1" || r.Offset == "" {
			t.Fatalf("regenerate: %+v %v", r, err)
		}
		evs, _ := s.ReadEvents(ctx, sess.Token, "", 100)
		var ack map[string]any
		json.Unmarshal(evs[len(evs)-1].Frame(), &ack)
		if ack["type"] != chat.FrameAck || ack["id"] != "r-1" || ack["client_id"] != "c-1" || ack["reply_to"] != two.ID ||
			ack["replaces"] != old.ID || ack["offset"] != r.Offset {
			t.Fatalf("ack %v", ack)
		}
		if got := texts(t, s, sess.Token); !slices.Equal(got, before) {
			t.Fatalf("history while regenerating %v, want %v", got, before)
		}
		if in, err := s.InspectSession(ctx, sess.Token, 0); err != nil || len(in.Pending) != 1 || in.Pending[0].Msg != "(regenerate) two" || in.Pending[0].ID != "r-1" {
			t.Fatalf("inspect: %+v %v", in.Pending, err)
		}
		// Once is enough: a resend is a duplicate, another command is refused while it waits.
		if dup, err := s.Regenerate(ctx, sess.Token, "r-2", "c-1", lim); err != nil || !dup.Duplicate || dup.ID != "r-1" || dup.Offset != r.Offset {
			t.Fatalf("resend: %+v %v", dup, err)
		}
		if _, err := s.Regenerate(ctx, sess.Token, "r-3", "c-3", lim); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("regenerate while one waits: %v, want ErrBusy", err)
		}
		if seqs := requestSeqs(t, s, sess.Token); len(seqs) == 0 || seqs[len(seqs)-1] != 3 {
			t.Fatalf("requests %v: want the regeneration's, 3, last", seqs)
		}

		turn, state, err := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
		if err != nil || state != store.TurnReady || turn.Seq != 3 || turn.Regen == nil || turn.Regen.Replaces != old.ID ||
			turn.Message.ID != two.ID || turn.Message.Msg != "two" || len(turn.History) != 2 || turn.History[1].Msg != "first one" {
			t.Fatalf("begin: %+v %v %v", turn, state, err)
		}
		reply, ev := botReply(turn, "second two")
		if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
			t.Fatal(err)
		}
		want := []string{"human:one", "bot:first one", "human:two", "bot:second two"}
		if got := texts(t, s, sess.Token); !slices.Equal(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		if got := must(s.GetSession(ctx, sess.Token, false)).Messages[3]; got.ReplyTo != two.ID || got.ID != reply.ID {
			t.Fatalf("new reply %+v", got)
		}
		// And again: now it replaces the new one.
		if _, err := s.Regenerate(ctx, sess.Token, "r-4", "", lim); err != nil {
			t.Fatal(err)
		}
		answer(t, s, sess.Token, "third two")
		want[3] = "bot:third two"
		if got := texts(t, s, sess.Token); !slices.Equal(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
	})
}

// A regeneration that fails (the model gives up) leaves the reply it was to replace; one of a
// turn that failed, which has no reply, adds the reply.
func TestRegenerateAfterAndIntoFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		answer(t, s, sess.Token, "")
		if got := texts(t, s, sess.Token); !slices.Equal(got, []string{"human:one"}) {
			t.Fatalf("after a failed turn: %v", got)
		}
		r, err := s.Regenerate(ctx, sess.Token, "r-1", "", lim)
		if err != nil {
			t.Fatal(err)
		}
		if turn := answer(t, s, sess.Token, "at last"); turn.Regen == nil || turn.Regen.Replaces != "" || turn.Regen.ID != r.ID || len(turn.History) != 0 {
			t.Fatalf("turn %+v", turn)
		}
		want := []string{"human:one", "bot:at last"}
		if got := texts(t, s, sess.Token); !slices.Equal(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		if _, err := s.Regenerate(ctx, sess.Token, "r-2", "", lim); err != nil {
			t.Fatal(err)
		}
		answer(t, s, sess.Token, "") // fails: "at last" stays
		if got := texts(t, s, sess.Token); !slices.Equal(got, want) {
			t.Fatalf("history after a failed regeneration %v, want %v", got, want)
		}
	})
}

// Nothing to regenerate: no reply yet, or a message still waiting; a regeneration counts
// against limits.messages_per_minute.
func TestRegenerateRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		if _, err := s.Regenerate(ctx, sess.Token, "r-0", "", lim); !errors.Is(err, store.ErrNothingToRegenerate) {
			t.Fatalf("empty session: %v, want ErrNothingToRegenerate", err)
		}
		if _, err := s.Regenerate(ctx, "a-token-of-no-session-00000000000", "r-0", "", lim); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("no session: %v", err)
		}
		two := store.SendLimits{MaxPending: 10, MessagesPerMinute: 2}
		s.Send(ctx, sess.Token, human("one"), two)
		if _, err := s.Regenerate(ctx, sess.Token, "r-1", "", two); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("message waiting: %v, want ErrBusy", err)
		}
		answer(t, s, sess.Token, "reply")
		if _, err := s.Regenerate(ctx, sess.Token, "r-2", "", two); err != nil {
			t.Fatal(err)
		}
		answer(t, s, sess.Token, "reply again")
		if _, err := s.Regenerate(ctx, sess.Token, "r-3", "", two); !errors.Is(err, store.ErrRateLimited) {
			t.Fatalf("third in a minute: %v, want ErrRateLimited", err)
		}
		// A history that does not end with a turn (a reply whose message is not before it).
		s.AppendHistory(ctx, sess.Token, chat.Message{ID: "x", Role: chat.RoleBot, Msg: "stray", ReplyTo: "nobody", Timestamp: time.Now()})
		if _, err := s.Regenerate(ctx, sess.Token, "r-4", "", lim); !errors.Is(err, store.ErrNothingToRegenerate) {
			t.Fatalf("stray reply last: %v, want ErrNothingToRegenerate", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// requestSeqs are the seqs of the session's requests in its partition stream, oldest first.
func requestSeqs(t *testing.T, s *store.Store, token string) []int64 {
	t.Helper()
	key := s.Keys().Requests(0)
	reqs, err := s.Client().Do(t.Context(), s.Client().B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, r := range reqs {
		if req, err := chat.DecodeRequest(r.FieldValues); err == nil && req.Token == token {
			seqs = append(seqs, req.Seq)
		}
	}
	return seqs
}
