package store_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

func TestRequestGroupReadAckStats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		sess, _ := s.CreateSession(ctx, "a")
		// Sent before the group exists: a new group starts at the beginning of the stream.
		s.Send(ctx, sess.Token, human("one"), lim)
		if err := s.EnsureGroups(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureGroups(ctx); err != nil {
			t.Fatalf("second EnsureGroups (BUSYGROUP is success): %v", err)
		}
		s.Send(ctx, sess.Token, human("two"), lim)
		if st, err := s.RequestGroupStats(ctx, 0); err != nil || st.Lag != 2 || st.Pending != 0 {
			t.Fatalf("stats before reading: %+v %v", st, err)
		}
		got, err := s.ReadRequests(ctx, 0, "c1", 10, 100*time.Millisecond)
		if err != nil || len(got) != 2 {
			t.Fatalf("read: %+v %v", got, err)
		}
		for i, e := range got {
			req, err := chat.DecodeRequest(e.Fields)
			if err != nil || req.Token != sess.Token || req.Seq != int64(i+1) || e.Partition != 0 {
				t.Fatalf("entry %d: %+v %+v %v", i, e, req, err)
			}
		}
		if st, _ := s.RequestGroupStats(ctx, 0); st.Lag != 0 || st.Pending != 2 {
			t.Fatalf("stats after reading: %+v", st)
		}
		// Nothing new: the blocking read times out empty.
		if more, err := s.ReadRequests(ctx, 0, "c1", 10, 50*time.Millisecond); err != nil || len(more) != 0 {
			t.Fatalf("empty read: %+v %v", more, err)
		}
		// A process of the same name finds what it was given and did not acknowledge.
		own, err := s.ReadOwnPending(ctx, 0, "c1", "0", 10)
		if err != nil || len(own) != 2 || own[0].ID != got[0].ID {
			t.Fatalf("own pending: %+v %v", own, err)
		}
		if own, _ := s.ReadOwnPending(ctx, 0, "c2", "0", 10); len(own) != 0 {
			t.Fatalf("c2 owns %+v", own)
		}
		if err := s.AckRequests(ctx, 0, got[0].ID, got[1].ID); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.RequestGroupStats(ctx, 0); st.Pending != 0 {
			t.Fatalf("pending after ack: %+v", st)
		}
	})
}

func TestRequestKeepAliveAndTakeover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		s.EnsureGroups(ctx)
		sess, _ := s.CreateSession(ctx, "a")
		s.Send(ctx, sess.Token, human("one"), lim)
		got, _ := s.ReadRequests(ctx, 0, "alive", 1, 100*time.Millisecond)
		if len(got) != 1 {
			t.Fatalf("read %+v", got)
		}
		id := got[0].ID
		// Make it look old, then keep it alive: the owner resets its idle time.
		if n, err := s.HandBackRequests(ctx, 0, "alive", []string{id}, time.Hour); err != nil || n != 1 {
			t.Fatalf("hand back: %d %v", n, err)
		}
		if owned, err := s.KeepRequests(ctx, 0, "alive", []string{id}); err != nil || !slices.Equal(owned, []string{id}) {
			t.Fatalf("keep: %v %v", owned, err)
		}
		if claimed, _, _, err := s.ClaimRequests(ctx, 0, "thief", time.Minute, "0-0", 10); err != nil || len(claimed) != 0 {
			t.Fatalf("a kept request was claimed: %+v %v", claimed, err)
		}
		// Another consumer cannot keep (steal) it.
		if owned, _ := s.KeepRequests(ctx, 0, "thief", []string{id}); len(owned) != 0 {
			t.Fatalf("thief kept %v", owned)
		}
		// Handed back, it is taken at once by a claim with that min-idle.
		s.HandBackRequests(ctx, 0, "alive", []string{id}, time.Minute)
		claimed, next, _, err := s.ClaimRequests(ctx, 0, "heir", time.Minute, "0-0", 10)
		if err != nil || len(claimed) != 1 || claimed[0].ID != id || claimed[0].Fields[chat.ReqFieldToken] != sess.Token || next != "0-0" {
			t.Fatalf("claim: %+v %q %v", claimed, next, err)
		}
		// The old owner lost it: keeping it is refused, and it shows as taken.
		if owned, _ := s.KeepRequests(ctx, 0, "alive", []string{id}); len(owned) != 0 {
			t.Fatalf("old owner still keeps %v", owned)
		}
		if taken, err := s.TakenRequests(ctx, 0, "alive", []string{id}); err != nil || !slices.Equal(taken, []string{id}) {
			t.Fatalf("taken for the old owner: %v %v", taken, err)
		}
		if taken, _ := s.TakenRequests(ctx, 0, "heir", []string{id}); len(taken) != 0 {
			t.Fatalf("taken for its owner: %v", taken)
		}
		pend, err := s.PendingRequests(ctx, 0, 10)
		if err != nil || len(pend) != 1 || pend[0].Consumer != "heir" || pend[0].Deliveries != 2 {
			t.Fatalf("pending %+v %v", pend, err)
		}
		// A consumer holding something is not removed; once acknowledged it is.
		if ok, err := s.RemoveConsumer(ctx, 0, "heir"); err != nil || ok {
			t.Fatalf("removed a consumer with pending requests: %v %v", ok, err)
		}
		s.AckRequests(ctx, 0, id)
		// Acknowledged is not taken.
		if taken, _ := s.TakenRequests(ctx, 0, "alive", []string{id}); len(taken) != 0 {
			t.Fatalf("an acknowledged request shows as taken: %v", taken)
		}
		if ok, err := s.RemoveConsumer(ctx, 0, "heir"); err != nil || !ok {
			t.Fatalf("remove idle consumer: %v %v", ok, err)
		}
	})
}

func TestDeadLetters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 2})
		id, err := s.AddDeadLetter(ctx, store.DeadLetter{
			Partition: 1, RequestID: "1-1", Fields: map[string]string{"token": "t", "seq": "3", "error": "spoof"},
			MessageID: "m", Error: "model failed", Consumer: "c", Attempts: 4,
		})
		if err != nil || id == "" {
			t.Fatal(err)
		}
		dead, err := s.ReadDeadLetters(ctx, 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("%+v %v", dead, err)
		}
		f := dead[0].Fields
		want := map[string]string{
			"token": "t", "seq": "3", "error": "model failed", "consumer": "c", "attempts": strconv.Itoa(4),
			"stream": s.Keys().Requests(1), "request_id": "1-1", "message_id": "m",
		}
		for k, v := range want {
			if f[k] != v {
				t.Fatalf("field %s = %q, want %q (all %v)", k, f[k], v, f)
			}
		}
	})
}
