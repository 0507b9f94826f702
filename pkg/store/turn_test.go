package store_test

import (
	"errors"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

func botReply(t store.Turn, text string) (*chat.Message, chat.Event) {
	m := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: text, Timestamp: time.Now().UTC(), ReplyTo: t.Message.ID}
	return &m, chat.MessageEvent(m)
}

func TestTurnLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		s.Send(ctx, sess.Token, human("two"), lim)

		turn, state, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil || state != store.TurnReady || turn.Seq != 1 || turn.Message.Msg != "one" || turn.Restart {
			t.Fatalf("begin: %+v %v %v", turn, state, err)
		}
		// Another attempt for the second request waits: one worker per session.
		_, state, _ = s.BeginTurn(ctx, sess.Token, "w2", 10, 5*time.Second)
		if state != store.TurnBusy {
			t.Fatalf("second holder got %v, want busy", state)
		}
		if _, err := s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "ec"}); err != nil {
			t.Fatal(err)
		}
		reply, ev := botReply(turn, "echo: one")
		fin, err := s.FinishTurn(ctx, turn, reply, ev)
		if err != nil || !fin.More || fin.Offset == "" {
			t.Fatalf("finish: %+v %v", fin, err)
		}
		// Finishing twice is refused: a redelivered request is answered once.
		if _, err := s.FinishTurn(ctx, turn, reply, ev); !errors.Is(err, store.ErrStaleTurn) {
			t.Fatalf("second finish: %v", err)
		}
		// The first request is answered, but the session is not idle: w1 still has it (more
		// is pending), and answers the rest.
		if _, state, _ := s.BeginTurn(ctx, sess.Token, "w3", 10, 5*time.Second); state != store.TurnBusy {
			t.Fatalf("request 1 after finish, message 2 pending: %v, want busy", state)
		}
		// The holder goes on with the next one, seeing the first turn as context.
		turn2, state, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil || state != store.TurnReady || turn2.Seq != 2 || len(turn2.History) != 2 || turn2.History[1].Msg != "echo: one" {
			t.Fatalf("begin 2: %+v %v %v", turn2, state, err)
		}
		reply2, ev2 := botReply(turn2, "echo: two")
		fin, err = s.FinishTurn(ctx, turn2, reply2, ev2)
		if err != nil || fin.More {
			t.Fatalf("finish 2: %+v %v", fin, err)
		}
		// Lease released: anyone may begin; nothing left.
		if _, state, _ := s.BeginTurn(ctx, sess.Token, "w2", 10, 5*time.Second); state != store.TurnDone {
			t.Fatalf("after all done: %v", state)
		}
		got, _ := s.GetSession(ctx, sess.Token, false)
		want := []string{"one", "echo: one", "two", "echo: two"}
		if len(got.Messages) != 4 {
			t.Fatalf("history %+v", got.Messages)
		}
		for i, m := range got.Messages {
			if m.Msg != want[i] {
				t.Fatalf("history[%d] = %q, want %q", i, m.Msg, want[i])
			}
		}
		if got.Messages[1].ReplyTo != got.Messages[0].ID {
			t.Fatal("reply_to does not name the question")
		}
		evs, _ := s.ReadEvents(ctx, sess.Token, "", 100)
		var types []string
		for _, e := range evs {
			types = append(types, e.Type)
		}
		if len(types) != 5 || types[2] != "delta" || types[3] != "message" || types[4] != "message" {
			t.Fatalf("events %v", types)
		}
	})
}

func TestLeaseExpiryHandsOverWithRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		dead, state, _ := s.BeginTurn(ctx, sess.Token, "dead", 10, 100*time.Millisecond)
		if state != store.TurnReady {
			t.Fatal(state)
		}
		var taken store.Turn
		storetest.Eventually(t, 5*time.Second, "the lease to expire", func() bool {
			var st store.TurnState
			taken, st, _ = s.BeginTurn(ctx, sess.Token, "alive", 10, 5*time.Second)
			return st == store.TurnReady
		})
		if !taken.Restart || taken.Seq != 1 {
			t.Fatalf("takeover %+v, want restart of 1", taken)
		}
		// The dead attempt can neither stream nor finish any more.
		if _, err := s.EmitDelta(ctx, dead, chat.Event{Type: chat.FrameDelta, Text: "x"}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("stale delta: %v", err)
		}
		r, ev := botReply(dead, "late")
		if _, err := s.FinishTurn(ctx, dead, r, ev); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("stale finish: %v", err)
		}
		if _, err := s.RenewLease(ctx, dead, time.Second); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("stale renew: %v", err)
		}
		r, ev = botReply(taken, "echo: one")
		if _, err := s.FinishTurn(ctx, taken, r, ev); err != nil {
			t.Fatal(err)
		}
		h, _ := s.History(ctx, sess.Token)
		if len(h) != 2 || h[1].Msg != "echo: one" {
			t.Fatalf("history %+v", h)
		}
	})
}

// A stop the user asks for reaches the worker with the lease's renewal and with its next delta,
// for the turn it was asked for only.
func TestStopReachesRenewAndDeltas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		if n, err := s.Stop(ctx, sess.Token); err != nil || n != 0 {
			t.Fatalf("stop with nothing pending: %d %v", n, err)
		}
		s.Send(ctx, sess.Token, human("one"), lim)
		s.Send(ctx, sess.Token, human("two"), lim)
		turn, _, _ := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
		delta := func(turn store.Turn, prev string) store.Delta {
			t.Helper()
			ds := []store.Delta{{Turn: turn, Prev: prev, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "e"}}}
			s.EmitDeltas(ctx, ds)
			if ds[0].Err != nil || ds[0].ID == "" {
				t.Fatalf("delta: %+v", ds[0])
			}
			return ds[0]
		}
		if stop, err := s.RenewLease(ctx, turn, 5*time.Second); err != nil || stop {
			t.Fatalf("renew before stop: %v %v", stop, err)
		}
		first := delta(turn, "")
		if first.Stop {
			t.Fatal("delta before stop reports a stop")
		}
		if n, err := s.Stop(ctx, sess.Token); err != nil || n != 1 {
			t.Fatalf("stop: %d %v", n, err)
		}
		if stop, err := s.RenewLease(ctx, turn, 5*time.Second); err != nil || !stop {
			t.Fatalf("renew after stop: %v %v", stop, err)
		}
		for _, prev := range []string{first.ID, ""} { // with its predecessor known, and not
			if d := delta(turn, prev); !d.Stop {
				t.Fatalf("delta after stop (prev %q) reports none", prev)
			}
		}
		r, _ := botReply(turn, "ec")
		r.Stopped = true
		if _, err := s.FinishTurn(ctx, turn, r, chat.MessageEvent(*r)); err != nil {
			t.Fatal(err)
		}
		// The stop was for turn 1 only.
		turn2, _, _ := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
		if turn2.Seq != 2 || turn2.Stop {
			t.Fatalf("turn 2 %+v", turn2)
		}
		if d := delta(turn2, ""); d.Stop {
			t.Fatal("turn 2's delta reports turn 1's stop")
		}
		if _, err := s.Stop(ctx, uuid.NewString()); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("stop unknown: %v", err)
		}
	})
}

func TestDeleteDuringTurn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		turn, _, _ := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
		s.DeleteSession(ctx, sess.Token)
		r, ev := botReply(turn, "x")
		if _, err := s.FinishTurn(ctx, turn, r, ev); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("finish after delete: %v", err)
		}
		if _, st, _ := s.BeginTurn(ctx, sess.Token, "w", 10, time.Second); st != store.TurnGone {
			t.Fatalf("begin after delete: %v", st)
		}
		// Nothing was recreated.
		if ok, _ := s.SessionExists(ctx, sess.Token); ok {
			t.Fatal("finish recreated the session")
		}
	})
}

func TestResumeReadsAndTruncation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{EventsMax: 1})
		sess, _ := s.CreateSession(ctx, "a")
		var ids []string
		for range 300 {
			id, err := s.Emit(ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		last := ids[len(ids)-1]
		evs, _ := s.ReadEvents(ctx, sess.Token, ids[len(ids)-2], 10)
		if len(evs) != 1 || evs[0].ID != last {
			t.Fatalf("after the one before last: %+v", evs)
		}
		if tr, _ := s.Truncated(ctx, sess.Token, ids[0]); !tr {
			t.Fatal("the first offset should be trimmed away with events_max 1")
		}
		if tr, _ := s.Truncated(ctx, sess.Token, last); tr {
			t.Fatal("the last offset is kept")
		}
		if id, _ := s.LastEventID(ctx, sess.Token); id != last {
			t.Fatalf("last %s want %s", id, last)
		}
	})
}

// FinishTurnAck acknowledges the request in the step that stores its turn on a single node,
// once nothing else is pending; on a cluster (another slot) it leaves the acknowledgement to
// the caller.
func TestFinishTurnAck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		if err := s.EnsureGroups(ctx); err != nil {
			t.Fatal(err)
		}
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		s.Send(ctx, sess.Token, human("two"), lim)
		got, err := s.ReadRequests(ctx, 0, "c1", 10, 0)
		if err != nil || len(got) != 2 {
			t.Fatalf("read %d requests: %v", len(got), err)
		}
		second := got[1] // "work up to seq 2"
		ref := store.RequestRef{Partition: 0, ID: second.ID, Seq: 2}
		pending := func() int {
			t.Helper()
			p, err := s.PendingRequests(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(p)
		}

		turn, _, err := s.BeginTurn(ctx, sess.Token, "w", 0, time.Minute)
		if err != nil || turn.Seq != 1 {
			t.Fatalf("begin: %+v %v", turn, err)
		}
		reply, ev := botReply(turn, "echo: one")
		// Turn 1 answers the first request, but message 2 is pending: the request stays
		// pending too (it covers the session until nothing is).
		ref1 := store.RequestRef{Partition: 0, ID: got[0].ID, Seq: 1}
		fin, err := s.FinishTurnAck(ctx, turn, reply, ev, ref1)
		if err != nil || fin.Acked || !fin.More || pending() != 2 {
			t.Fatalf("turn 1 with more pending: %+v %v, %d pending; want not acknowledged", fin, err, pending())
		}
		turn, _, err = s.BeginTurn(ctx, sess.Token, "w", 0, time.Minute)
		if err != nil || turn.Seq != 2 {
			t.Fatalf("begin 2: %+v %v", turn, err)
		}
		reply, ev = botReply(turn, "echo: two")
		fin, err = s.FinishTurnAck(ctx, turn, reply, ev, ref)
		wantAcked := b.Name == "single"
		if err != nil || fin.Acked != wantAcked || fin.More {
			t.Fatalf("turn 2: %+v %v; want acked %v", fin, err, wantAcked)
		}
		if want := map[bool]int{true: 1, false: 2}[wantAcked]; pending() != want {
			t.Fatalf("%d requests pending, want %d", pending(), want)
		}
	})
}
