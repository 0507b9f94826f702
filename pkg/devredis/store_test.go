package devredis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/devredis"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

// open starts an embedded Redis and a Store on it, both closed when the test ends.
func open(t *testing.T, opt store.Options) (*store.Store, *devredis.Server, context.Context) {
	t.Helper()
	srv, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := store.Open(ctx, srv.StoreOptions(opt))
	if err != nil {
		t.Fatalf("open store on the embedded redis: %v", err)
	}
	t.Cleanup(s.Close)
	return s, srv, ctx
}

func human(text, clientID string) chat.Message {
	return chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: text, Timestamp: time.Now().UTC(), ClientID: clientID}
}

var lim = store.SendLimits{MaxPending: 16, MessagesPerMinute: 60}

// TestStoreFlowsOnMiniredis runs every script of pkg/store (create, get, send with its limits
// and client_id idempotency, begin/renew/emit/finish, stop, delete) on the embedded Redis, and
// the notifications they PUBLISH from inside Lua arrive at a rueidis SUBSCRIBE.
func TestStoreFlowsOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{})
	sess, err := s.CreateSession(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}

	// Subscribe to the session's notify channel the way a web host does.
	var (
		mu     sync.Mutex
		notes  []chat.Notification
		subErr = make(chan error, 1)
	)
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subscribed := make(chan struct{})
	var once sync.Once
	rdb := s.Client()
	go func() {
		subErr <- rdb.Receive(rueidis.WithOnSubscriptionHook(subCtx, func(rueidis.PubSubSubscription) {
			once.Do(func() { close(subscribed) })
		}), rdb.B().Subscribe().Channel(s.Keys().Notify(sess.Token)).Build(), func(m rueidis.PubSubMessage) {
			n, ok := chat.DecodeNotification(m.Message)
			if !ok {
				t.Errorf("undecodable notification %q", m.Message)
				return
			}
			mu.Lock()
			notes = append(notes, n)
			mu.Unlock()
		})
	}()
	select {
	case <-subscribed:
	case err := <-subErr:
		t.Fatalf("subscribe: %v", err)
	case <-ctx.Done():
		t.Fatal("subscribe: no confirmation")
	}

	first, err := s.Send(ctx, sess.Token, human("one", "c1"), lim)
	if err != nil || first.Seq != 1 || first.Offset == "" {
		t.Fatalf("send: %+v %v", first, err)
	}
	// A resent client_id queues nothing new.
	dup, err := s.Send(ctx, sess.Token, human("one again", "c1"), lim)
	if err != nil || !dup.Duplicate || dup.Seq != 1 || dup.ID != first.ID {
		t.Fatalf("resend: %+v %v", dup, err)
	}
	if _, err := s.Send(ctx, sess.Token, human("two", "c2"), lim); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, sess.Token, human("three", ""), store.SendLimits{MaxPending: 2, MessagesPerMinute: 60}); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("over max_pending: %v", err)
	}
	var rl *store.RateLimitError
	if _, err := s.Send(ctx, sess.Token, human("three", ""), store.SendLimits{MaxPending: 16, MessagesPerMinute: 2}); !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("over messages_per_minute: %v", err)
	}

	// The requests reached the partition stream.
	n, err := rdb.Do(ctx, rdb.B().Xlen().Key(s.Keys().Requests(store.Partition(sess.Token, s.Options().Partitions))).Build()).AsInt64()
	if err != nil || n != 3 { // one, the resend of one (still unanswered), two
		t.Fatalf("request stream length %d (%v), want 3", n, err)
	}

	turn, state, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
	if err != nil || state != store.TurnReady || turn.Seq != 1 || turn.Message.Msg != "one" {
		t.Fatalf("begin: %+v %v %v", turn, state, err)
	}
	if _, state, _ := s.BeginTurn(ctx, sess.Token, "w2", 10, 5*time.Second); state != store.TurnBusy {
		t.Fatalf("second holder: %v, want busy", state)
	}
	if n, err := s.Stop(ctx, sess.Token); err != nil || n != 1 {
		t.Fatalf("stop: %d %v", n, err)
	}
	if stop, err := s.RenewLease(ctx, turn, 5*time.Second); err != nil || !stop {
		t.Fatalf("renew after stop: %v %v", stop, err)
	}
	if _, err := s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "ec"}); err != nil {
		t.Fatal(err)
	}
	r1 := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "ec", Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID, Stopped: true}
	fin, err := s.FinishTurn(ctx, turn, &r1, chat.MessageEvent(r1))
	if err != nil || !fin.More {
		t.Fatalf("finish 1: %+v %v", fin, err)
	}
	turn2, state, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
	if err != nil || state != store.TurnReady || turn2.Seq != 2 || turn2.Stop || len(turn2.History) != 2 {
		t.Fatalf("begin 2: %+v %v %v", turn2, state, err)
	}
	r2 := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "echo: two", Timestamp: time.Now().UTC(), ReplyTo: turn2.Message.ID}
	if fin, err := s.FinishTurn(ctx, turn2, &r2, chat.MessageEvent(r2)); err != nil || fin.More {
		t.Fatalf("finish 2: %+v %v", fin, err)
	}
	if _, state, _ := s.BeginTurn(ctx, sess.Token, "w2", 10, 5*time.Second); state != store.TurnDone {
		t.Fatalf("after all done: %v", state)
	}

	got, err := s.GetSession(ctx, sess.Token, true)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got.Messages {
		texts = append(texts, m.Msg)
	}
	if strings.Join(texts, "|") != "one|ec|two|echo: two" || !got.Messages[1].Stopped {
		t.Fatalf("history %+v", got.Messages)
	}

	// Events: ack, ack, delta, message, message; every one announced, in order, chained by prev.
	evs, err := s.ReadEvents(ctx, sess.Token, "", 100)
	if err != nil || len(evs) != 5 {
		t.Fatalf("events %+v %v", evs, err)
	}
	storetest.Eventually(t, 5*time.Second, "5 notifications", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(notes) >= 5
	})
	mu.Lock()
	prev := ""
	for i, n := range notes[:5] {
		if n.ID != evs[i].ID || n.Prev != prev || n.Type != evs[i].Type {
			t.Errorf("notification %d = %+v, want id %s prev %q type %s", i, n, evs[i].ID, prev, evs[i].Type)
		}
		prev = n.ID
	}
	mu.Unlock()
	if last, err := s.LastEventID(ctx, sess.Token); err != nil || last != evs[4].ID {
		t.Fatalf("last event %q %v", last, err)
	}
	if more, _ := s.ReadEvents(ctx, sess.Token, evs[2].ID, 100); len(more) != 2 || more[0].ID != evs[3].ID {
		t.Fatalf("resume after %s: %+v", evs[2].ID, more)
	}

	existed, err := s.DeleteSession(ctx, sess.Token)
	if err != nil || !existed {
		t.Fatalf("delete: %v %v", existed, err)
	}
	storetest.Eventually(t, 5*time.Second, "the deleted notification", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return notes[len(notes)-1].Deleted
	})
	if _, err := s.GetSession(ctx, sess.Token, false); !errors.Is(err, store.ErrSessionNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestSessionsExpireInRealTime: a session's keys expire after session.ttl of wall-clock time,
// with no FastForward from anyone, and GetSession(touch) slides the TTL. The TTL is long
// enough that a loaded machine pausing between two polls does not expire the kept session.
func TestSessionsExpireInRealTime(t *testing.T) {
	t.Parallel()
	const sessionTTL = 2 * time.Second
	s, _, ctx := open(t, store.Options{SessionTTL: sessionTTL})
	kept, _ := s.CreateSession(ctx, "kept")
	gone, _ := s.CreateSession(ctx, "gone")
	if _, err := s.Send(ctx, gone.Token, human("hi", "c"), lim); err != nil {
		t.Fatal(err)
	}
	if ttl, err := s.TTL(ctx, gone.Token); err != nil || ttl <= 0 || ttl > sessionTTL {
		t.Fatalf("ttl %s %v", ttl, err)
	}
	start := time.Now()
	storetest.Eventually(t, 10*time.Second, "the session to expire", func() bool {
		// Keep the other one alive meanwhile.
		if _, err := s.GetSession(ctx, kept.Token, true); err != nil {
			t.Fatalf("kept session: %v", err)
		}
		ok, _ := s.SessionExists(ctx, gone.Token)
		return !ok
	})
	if d := time.Since(start); d < sessionTTL*3/4 {
		t.Fatalf("expired after %s, before its TTL", d)
	}
	rdb := s.Client()
	// Every key of the session. One script sets their expiry times, but miniredis reads the
	// clock per command, so they may expire a millisecond or so apart: wait for each, briefly.
	for _, k := range s.Keys().SessionKeys(gone.Token) {
		storetest.Eventually(t, time.Second, k+" to expire with the session", func() bool {
			n, _ := rdb.Do(ctx, rdb.B().Exists().Key(k).Build()).AsInt64()
			return n == 0
		})
	}
	if ok, _ := s.SessionExists(ctx, kept.Token); !ok {
		t.Fatal("a touched session expired")
	}
}

// TestWorkerCommandsOnMiniredis runs the consumer-group commands a worker uses on the request
// streams: XGROUP CREATE MKSTREAM (BUSYGROUP the second time), XREADGROUP with BLOCK,
// XAUTOCLAIM of an idle entry by another consumer, XACK, XPENDING.
func TestWorkerCommandsOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{Partitions: 1})
	rdb := s.Client()
	key := s.Keys().Requests(0)
	create := rdb.B().XgroupCreate().Key(key).Group(store.Group).Id("$").Mkstream().Build()
	if err := rdb.Do(ctx, create).Error(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, rdb.B().XgroupCreate().Key(key).Group(store.Group).Id("$").Mkstream().Build()).Error(); err == nil || !strings.Contains(err.Error(), "BUSYGROUP") {
		t.Fatalf("second create: %v, want BUSYGROUP", err)
	}

	// A blocking read gets the request (whether it arrives before or while it blocks).
	got := make(chan []rueidis.XRangeEntry, 1)
	go func() {
		res, err := rdb.Do(ctx, rdb.B().Xreadgroup().Group(store.Group, "c1").Count(10).Block(5000).Streams().Key(key).Id(">").Build()).AsXRead()
		if err != nil {
			t.Errorf("xreadgroup: %v", err)
		}
		got <- res[key]
	}()
	sess, _ := s.CreateSession(ctx, "w")
	if _, err := s.Send(ctx, sess.Token, human("hi", ""), lim); err != nil {
		t.Fatal(err)
	}
	var entries []rueidis.XRangeEntry
	select {
	case entries = <-got:
	case <-ctx.Done():
		t.Fatal("blocked XREADGROUP never returned")
	}
	if len(entries) != 1 {
		t.Fatalf("read %+v", entries)
	}
	req, err := chat.DecodeRequest(entries[0].FieldValues)
	if err != nil || req.Token != sess.Token || req.Seq != 1 {
		t.Fatalf("request %+v %v", req, err)
	}

	// c1 "dies"; c2 claims what sat idle.
	var claimed []rueidis.XRangeEntry
	storetest.Eventually(t, 5*time.Second, "XAUTOCLAIM to take the idle entry", func() bool {
		arr, err := rdb.Do(ctx, rdb.B().Xautoclaim().Key(key).Group(store.Group).Consumer("c2").MinIdleTime("50").Start("0-0").Count(10).Build()).ToArray()
		if err != nil || len(arr) < 2 {
			t.Fatalf("xautoclaim: %v", err)
		}
		claimed, _ = arr[1].AsXRange()
		return len(claimed) == 1
	})
	if claimed[0].ID != entries[0].ID {
		t.Fatalf("claimed %s, want %s", claimed[0].ID, entries[0].ID)
	}
	if n, err := rdb.Do(ctx, rdb.B().Xack().Key(key).Group(store.Group).Id(claimed[0].ID).Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("xack: %d %v", n, err)
	}
	pend, err := rdb.Do(ctx, rdb.B().Xpending().Key(key).Group(store.Group).Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := pend[0].AsInt64(); n != 0 {
		t.Fatalf("%d still pending after XACK", n)
	}
}

// TestEventsCappedOnMiniredis: the scripts trim the event stream to its caps, by count and by
// bytes (session.events_max, session.events_max_bytes), and a resume point older than what is
// kept is reported as truncated.
func TestEventsCappedOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{EventsMax: 10})
	sess, _ := s.CreateSession(ctx, "a")
	var ids []string
	for range 50 {
		id, err := s.Emit(ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	n, err := s.EventCount(ctx, sess.Token)
	if err != nil || n < 10 || n >= 50 {
		t.Fatalf("%d events kept (%v), want the cap of 10 (approximately)", n, err)
	}
	if tr, err := s.Truncated(ctx, sess.Token, ids[0]); err != nil || !tr {
		t.Fatalf("resume from the first event: truncated=%v %v", tr, err)
	}
	if tr, err := s.Truncated(ctx, sess.Token, ids[48]); err != nil || tr {
		t.Fatalf("resume from a kept event: truncated=%v %v", tr, err)
	}

	s, _, ctx = open(t, store.Options{EventsMaxBytes: 4096})
	sess, _ = s.CreateSession(ctx, "b")
	for range 100 {
		if _, err := s.Emit(ctx, sess.Token, chat.Event{Type: chat.FrameError, Msg: strings.Repeat("x", 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.ReadEvents(ctx, sess.Token, "0", 1000)
	if err != nil || len(evs) < 3 || len(evs) > 4 {
		t.Fatalf("%d events of about 1 KB kept (%v), want those that fit in 4096 bytes", len(evs), err)
	}
}

// The steps a worker takes for many replies at once (deltas, lease renewals: one script for
// many on a single node) run on miniredis: each turn gets its own result.
func TestWorkerGroupsOnMiniredis(t *testing.T) {
	t.Parallel()
	s, _, ctx := open(t, store.Options{})
	var ds []store.Delta
	var rs []store.Renewal
	for i := range 3 {
		sess, _ := s.CreateSession(ctx, "a")
		if _, err := s.Send(ctx, sess.Token, human("hi", ""), lim); err != nil {
			t.Fatal(err)
		}
		turn, _, err := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			turn.Holder = "another attempt"
		}
		ds = append(ds, store.Delta{Turn: turn, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "x"}})
		rs = append(rs, store.Renewal{Turn: turn, Lease: time.Minute})
	}
	s.EmitDeltas(ctx, ds)
	s.RenewLeases(ctx, rs)
	for i := range 3 {
		lost := i == 2
		if errors.Is(ds[i].Err, store.ErrLeaseLost) != lost || errors.Is(rs[i].Err, store.ErrLeaseLost) != lost ||
			(!lost && (ds[i].Err != nil || ds[i].ID == "" || rs[i].Err != nil || rs[i].Stop)) {
			t.Fatalf("turn %d: delta %+v, renewal %+v", i, ds[i], rs[i])
		}
	}
}
