package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

func setup(t *testing.T, b storetest.Backend, opt store.Options) (*store.Store, context.Context) {
	t.Helper()
	s := storetest.Open(t, b, opt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return s, ctx
}

func human(text string) chat.Message {
	return chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: text, Timestamp: time.Now().UTC()}
}

func TestSessionLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		sess, err := s.CreateSession(ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		if !chat.ValidToken(sess.Token) || sess.Name != "ops" || len(sess.Messages) != 0 {
			t.Fatalf("created %+v", sess)
		}
		ttl, err := s.TTL(ctx, sess.Token)
		if err != nil || ttl < 59*time.Minute || ttl > time.Hour {
			t.Fatalf("ttl %s, %v", ttl, err)
		}
		got, err := s.GetSession(ctx, sess.Token, true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "ops" || !got.SessionStart.Equal(sess.SessionStart) {
			t.Fatalf("read %+v, want %+v", got, sess)
		}
		existed, err := s.DeleteSession(ctx, sess.Token)
		if err != nil || !existed {
			t.Fatalf("delete: %v %v", existed, err)
		}
		if _, err := s.GetSession(ctx, sess.Token, false); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		for _, k := range s.Keys().SessionKeys(sess.Token) {
			n, err := s.Client().Do(ctx, s.Client().B().Exists().Key(k).Build()).AsInt64()
			if err != nil || n != 0 {
				t.Fatalf("key %s left after delete (%d, %v)", k, n, err)
			}
		}
		if _, err := s.GetSession(ctx, "not-a-token", false); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("bad token: %v", err)
		}
	})
}

func TestTouchSlidesTTL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		sess, _ := s.CreateSession(ctx, "a")
		k := s.Keys().Session(sess.Token)
		if err := s.Client().Do(ctx, s.Client().B().Pexpire().Key(k).Milliseconds(5000).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, sess.Token, false); err != nil {
			t.Fatal(err)
		}
		if ttl, _ := s.TTL(ctx, sess.Token); ttl > 5*time.Second {
			t.Fatalf("read without touch slid the TTL to %s", ttl)
		}
		if _, err := s.GetSession(ctx, sess.Token, true); err != nil {
			t.Fatal(err)
		}
		if ttl, _ := s.TTL(ctx, sess.Token); ttl < 59*time.Minute {
			t.Fatalf("touch left TTL at %s", ttl)
		}
	})
}

func TestHistoryCapped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{HistoryMax: 5})
		sess, _ := s.CreateSession(ctx, "a")
		for i := range 8 {
			if err := s.AppendHistory(ctx, sess.Token, human(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		h, err := s.History(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range h {
			got = append(got, m.Msg)
		}
		if strings.Join(got, ",") != "3,4,5,6,7" {
			t.Fatalf("history %v, want the last 5", got)
		}
		if err := s.AppendHistory(ctx, uuid.NewString(), human("x")); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("append to unknown session: %v", err)
		}
	})
}

var lim = store.SendLimits{MaxPending: 16, MessagesPerMinute: 60}

func TestSendQueuesInOrderAndAcks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 3})
		sess, _ := s.CreateSession(ctx, "a")
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Send(ctx, sess.Token, human(fmt.Sprint(i)), lim); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _ := s.GetSession(ctx, sess.Token, false)
		if len(got.Messages) != 10 {
			t.Fatalf("%d pending, want 10", len(got.Messages))
		}
		evs, err := s.ReadEvents(ctx, sess.Token, "", 100)
		if err != nil || len(evs) != 10 {
			t.Fatalf("%d events (%v), want 10 acks", len(evs), err)
		}
		for i, e := range evs {
			if e.Type != chat.FrameAck || !strings.Contains(string(e.Frame()), `"offset":"`+e.ID+`"`) {
				t.Fatalf("event %d: %s %s", i, e.Type, e.Frame())
			}
			if i > 0 && chat.CompareIDs(evs[i-1].ID, e.ID) >= 0 {
				t.Fatalf("events out of order: %s then %s", evs[i-1].ID, e.ID)
			}
		}
		key := s.Keys().Requests(store.Partition(sess.Token, 3))
		reqs, err := s.Client().Do(ctx, s.Client().B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
		if err != nil || len(reqs) != 10 {
			t.Fatalf("%d requests queued (%v)", len(reqs), err)
		}
		seen := map[int64]bool{}
		for _, r := range reqs {
			req, err := chat.DecodeRequest(r.FieldValues)
			if err != nil || req.Token != sess.Token {
				t.Fatalf("request %v: %v", r.FieldValues, err)
			}
			seen[req.Seq] = true
		}
		if len(seen) != 10 {
			t.Fatalf("seqs %v", seen)
		}
	})
}

func TestSendLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		for range 3 {
			if _, err := s.Send(ctx, sess.Token, human("x"), store.SendLimits{MaxPending: 3, MessagesPerMinute: 100}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Send(ctx, sess.Token, human("x"), store.SendLimits{MaxPending: 3, MessagesPerMinute: 100}); !errors.Is(err, store.ErrTooManyPending) {
			t.Fatalf("4th pending: %v", err)
		}
		_, err := s.Send(ctx, sess.Token, human("x"), store.SendLimits{MaxPending: 100, MessagesPerMinute: 3})
		var rl *store.RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, store.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
			t.Fatalf("4th in a minute: %v", err)
		}
		if _, err := s.Send(ctx, uuid.NewString(), human("x"), lim); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("unknown session: %v", err)
		}
	})
}

func TestSendClientIDIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		m := human("hi")
		m.ClientID = "c-1"
		first, err := s.Send(ctx, sess.Token, m, lim)
		if err != nil || first.Duplicate {
			t.Fatal(first, err)
		}
		again := human("hi")
		again.ClientID = "c-1"
		second, err := s.Send(ctx, sess.Token, again, lim)
		if err != nil || !second.Duplicate || second.Seq != first.Seq || second.ID != first.ID || second.Offset != first.Offset {
			t.Fatalf("resend: %+v %v, first %+v", second, err, first)
		}
		got, _ := s.GetSession(ctx, sess.Token, false)
		if len(got.Messages) != 1 {
			t.Fatalf("%d messages after a resend, want 1", len(got.Messages))
		}
	})
}

func TestClientIDsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{HistoryMax: 10})
		sess, _ := s.CreateSession(ctx, "a")
		for i := range 40 {
			m := human("x")
			m.ClientID = fmt.Sprint("c", i)
			if _, err := s.Send(ctx, sess.Token, m, store.SendLimits{MaxPending: 100, MessagesPerMinute: 100}); err != nil {
				t.Fatal(err)
			}
		}
		h, err := s.Client().Do(ctx, s.Client().B().Hgetall().Key(s.Keys().Session(sess.Token)).Build()).AsStrMap()
		n := 0
		for f := range h {
			if strings.HasPrefix(f, "c:") {
				n++
			}
		}
		if err != nil || n > 11 || n < 5 {
			t.Fatalf("%d client ids kept (%v), want about 10", n, err)
		}
	})
}

// A resend of a message still waiting for its reply queues its request again (so a request
// lost on the way is not the end of it); once the message is answered, a resend queues nothing.
// On a single node the send script queues it, on a cluster Send does after the script.
func TestSendResendRequeuesUnanswered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		sess, _ := s.CreateSession(ctx, "a")
		requests := func() []int64 {
			t.Helper()
			key := s.Keys().Requests(0)
			reqs, err := s.Client().Do(ctx, s.Client().B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, r := range reqs {
				req, err := chat.DecodeRequest(r.FieldValues)
				if err != nil || req.Token != sess.Token {
					t.Fatalf("request %v: %v", r.FieldValues, err)
				}
				seqs = append(seqs, req.Seq)
			}
			return seqs
		}
		m := human("hi")
		m.ClientID = "c-1"
		if _, err := s.Send(ctx, sess.Token, m, lim); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(ctx, sess.Token, m, lim); err != nil {
			t.Fatal(err)
		}
		if got := requests(); len(got) != 2 || got[0] != 1 || got[1] != 1 {
			t.Fatalf("requests after a resend of an unanswered message: %v, want [1 1]", got)
		}
		turn, state, err := s.BeginTurn(ctx, sess.Token, "w", 0, time.Minute)
		if err != nil || state != store.TurnReady {
			t.Fatalf("begin: %v %v", state, err)
		}
		reply, ev := botReply(turn, "echo: hi")
		if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
			t.Fatal(err)
		}
		if sent, err := s.Send(ctx, sess.Token, m, lim); err != nil || !sent.Duplicate {
			t.Fatalf("resend after the reply: %+v %v", sent, err)
		}
		if got := requests(); len(got) != 2 {
			t.Fatalf("requests after a resend of an answered message: %v, want still 2", got)
		}
	})
}
