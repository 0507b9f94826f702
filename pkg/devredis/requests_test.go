package devredis_test

import (
	"slices"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
)

// The consumer-group calls of pkg/store (requests.go) on the embedded Redis: what `chatbot
// work` runs in `chatbot dev`.

func TestRequestGroupOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{Partitions: 1})
	sess, _ := s.CreateSession(ctx, "a")
	s.Send(ctx, sess.Token, human("one", ""), lim)
	if err := s.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureGroups(ctx); err != nil {
		t.Fatalf("second EnsureGroups (BUSYGROUP is success): %v", err)
	}
	s.Send(ctx, sess.Token, human("two", ""), lim)
	if st, err := s.RequestGroupStats(ctx, 0); err != nil || st.Pending != 0 || (st.Lag != 2 && st.Lag != -1) {
		t.Fatalf("stats before reading: %+v %v", st, err)
	}
	got, err := s.ReadRequests(ctx, 0, "c1", 10, 100*time.Millisecond)
	if err != nil || len(got) != 2 {
		t.Fatalf("read: %+v %v", got, err)
	}
	for i, e := range got {
		req, err := chat.DecodeRequest(e.Fields)
		if err != nil || req.Token != sess.Token || req.Seq != int64(i+1) {
			t.Fatalf("entry %d: %+v %+v %v", i, e, req, err)
		}
	}
	if st, err := s.RequestGroupStats(ctx, 0); err != nil || st.Pending != 2 {
		t.Fatalf("stats after reading: %+v %v", st, err)
	}
	if more, err := s.ReadRequests(ctx, 0, "c1", 10, 50*time.Millisecond); err != nil || len(more) != 0 {
		t.Fatalf("empty blocking read: %+v %v", more, err)
	}
	own, err := s.ReadOwnPending(ctx, 0, "c1", "0", 10)
	if err != nil || len(own) != 2 || own[0].ID != got[0].ID {
		t.Fatalf("own pending: %+v %v", own, err)
	}
	if err := s.AckRequests(ctx, 0, got[0].ID, got[1].ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.RequestGroupStats(ctx, 0); st.Pending != 0 {
		t.Fatalf("pending after ack: %+v", st)
	}
}

func TestRequestTakeoverOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{Partitions: 1})
	s.EnsureGroups(ctx)
	sess, _ := s.CreateSession(ctx, "a")
	s.Send(ctx, sess.Token, human("one", ""), lim)
	got, _ := s.ReadRequests(ctx, 0, "alive", 1, 100*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("read %+v", got)
	}
	id := got[0].ID
	if n, err := s.HandBackRequests(ctx, 0, "alive", []string{id}, time.Hour); err != nil || n != 1 {
		t.Fatalf("hand back: %d %v", n, err)
	}
	if owned, err := s.KeepRequests(ctx, 0, "alive", []string{id}); err != nil || !slices.Equal(owned, []string{id}) {
		t.Fatalf("keep: %v %v", owned, err)
	}
	if claimed, _, _, err := s.ClaimRequests(ctx, 0, "thief", time.Minute, "0-0", 10); err != nil || len(claimed) != 0 {
		t.Fatalf("a kept request was claimed: %+v %v", claimed, err)
	}
	if owned, _ := s.KeepRequests(ctx, 0, "thief", []string{id}); len(owned) != 0 {
		t.Fatalf("thief kept %v", owned)
	}
	s.HandBackRequests(ctx, 0, "alive", []string{id}, time.Minute)
	claimed, _, _, err := s.ClaimRequests(ctx, 0, "heir", time.Minute, "0-0", 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != id || claimed[0].Fields[chat.ReqFieldToken] != sess.Token {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	if owned, _ := s.KeepRequests(ctx, 0, "alive", []string{id}); len(owned) != 0 {
		t.Fatalf("old owner still keeps %v", owned)
	}
	// Redis counts 2 deliveries here. miniredis also counts every XCLAIM ... JUSTID that
	// KeepRequests and HandBackRequests run (Redis does not), so its count is higher: a
	// worker must not read the delivery count as "model attempts" on the embedded Redis.
	pend, err := s.PendingRequests(ctx, 0, 10)
	if err != nil || len(pend) != 1 || pend[0].Consumer != "heir" || pend[0].Deliveries < 2 {
		t.Fatalf("pending %+v %v", pend, err)
	}
	if ok, err := s.RemoveConsumer(ctx, 0, "heir"); err != nil || ok {
		t.Fatalf("removed a consumer with pending requests: %v %v", ok, err)
	}
	s.AckRequests(ctx, 0, id)
	if ok, err := s.RemoveConsumer(ctx, 0, "heir"); err != nil || !ok {
		t.Fatalf("remove idle consumer: %v %v", ok, err)
	}
	dead, err := s.AddDeadLetter(ctx, store.DeadLetter{Partition: 0, RequestID: id, Fields: got[0].Fields, Error: "model failed", Consumer: "heir", Attempts: 4})
	if err != nil || dead == "" {
		t.Fatalf("dead letter: %v", err)
	}
	if dl, err := s.ReadDeadLetters(ctx, 10); err != nil || len(dl) != 1 || dl[0].Fields["error"] != "model failed" {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
}
