package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// A stored reply's deltas leave the event stream with the step that writes its message (the
// message has the whole text), and resuming still works: from before the reply or from inside
// its deltas, the next event is the message.
func TestStoredReplyDropsItsDeltas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		sent, err := s.Send(ctx, sess.Token, human("one"), lim)
		if err != nil {
			t.Fatal(err)
		}
		turn, _, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"ec", "ho", ": one"} {
			id, err := s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: text})
			if err != nil {
				t.Fatal(err)
			}
			turn.Deltas = append(turn.Deltas, id)
		}
		reply, ev := botReply(turn, "echo: one")
		fin, err := s.FinishTurn(ctx, turn, reply, ev)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := s.ReadEvents(ctx, sess.Token, "", 100)
		if len(evs) != 2 || evs[0].Type != chat.FrameAck || evs[1].Type != chat.FrameMessage {
			t.Fatalf("events kept %+v, want the ack and the message", evs)
		}
		for _, after := range []string{sent.Offset, turn.Deltas[0], turn.Deltas[2]} {
			got, err := s.ReadEvents(ctx, sess.Token, after, 100)
			if err != nil || len(got) != 1 || got[0].ID != fin.Offset {
				t.Fatalf("resume after %s: %+v %v, want the message %s", after, got, err, fin.Offset)
			}
			if cut, err := s.Truncated(ctx, sess.Token, after); err != nil || cut {
				t.Fatalf("resume after %s: truncated %v %v", after, cut, err)
			}
		}
	})
}

// What is stored is not HTML-escaped: a message of 4,096 "<" costs about 4 KB in each place it
// is kept, not 24 KB (json.Marshal writes "<" as the six bytes \u003c).
func TestStoredTextNotHTMLEscaped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sess, _ := s.CreateSession(ctx, "a")
		text := strings.Repeat("<", 4096)
		if _, err := s.Send(ctx, sess.Token, human(text), lim); err != nil {
			t.Fatal(err)
		}
		turn, _, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil || turn.Message.Msg != text {
			t.Fatalf("begin: %v", err)
		}
		reply, ev := botReply(turn, "echo: "+text)
		if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
			t.Fatal(err)
		}
		rdb := s.Client()
		hist, err := rdb.Do(ctx, rdb.B().Lrange().Key(s.Keys().Messages(sess.Token)).Start(0).Stop(-1).Build()).AsStrSlice()
		if err != nil || len(hist) != 2 {
			t.Fatalf("history %d entries, %v", len(hist), err)
		}
		evs, _ := s.ReadEvents(ctx, sess.Token, "", 100)
		stored := append(hist, string(evs[len(evs)-1].Body))
		for _, v := range stored {
			if strings.Contains(v, `\u003c`) || len(v) > 4096+300 {
				t.Fatalf("stored %d bytes, escaped: %v", len(v), strings.Contains(v, `\u003c`))
			}
		}
		got, err := s.GetSession(ctx, sess.Token, false)
		if err != nil || len(got.Messages) != 2 || got.Messages[0].Msg != text || got.Messages[1].Msg != "echo: "+text {
			t.Fatalf("read back: %v", err)
		}
	})
}

// Every key a session's steps make carries an expiry, though most steps no longer slide it.
func TestEveryKeyOfASessionExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Hour})
		sess, _ := s.CreateSession(ctx, "a")
		for i := range 20 { // past a batch of answered messages trimmed from pending
			m := human("m")
			m.ClientID = "c" + string(rune('a'+i))
			if _, err := s.Send(ctx, sess.Token, m, lim); err != nil {
				t.Fatal(err)
			}
			turn, _, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "e"})
			if err != nil {
				t.Fatal(err)
			}
			turn.Deltas = []string{id}
			reply, ev := botReply(turn, "echo: m")
			if _, err := s.FinishTurn(ctx, turn, reply, ev); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Send(ctx, sess.Token, human("left pending"), lim); err != nil {
			t.Fatal(err)
		}
		rdb := s.Client()
		for _, k := range s.Keys().SessionKeys(sess.Token) {
			ttl, err := rdb.Do(ctx, rdb.B().Pttl().Key(k).Build()).AsInt64()
			if err != nil || ttl < 50*time.Minute.Milliseconds() || ttl > time.Hour.Milliseconds() {
				t.Errorf("%s: pttl %d %v, want about an hour", k, ttl, err)
			}
		}
		got, err := s.GetSession(ctx, sess.Token, false)
		if err != nil || len(got.Messages) != 41 || got.Messages[40].Msg != "left pending" {
			t.Fatalf("session: %d messages, %v", len(got.Messages), err)
		}
	})
}

// begunTurn is the turn of a new session's first message, begun by holder "w".
func begunTurn(t *testing.T, s *store.Store, ctx context.Context) store.Turn {
	t.Helper()
	sess, _ := s.CreateSession(ctx, "a")
	if _, err := s.Send(ctx, sess.Token, human("one"), lim); err != nil {
		t.Fatal(err)
	}
	turn, _, err := s.BeginTurn(ctx, sess.Token, "w", 10, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return turn
}

// EmitDeltas writes the deltas of many turns, each under its own lease: a turn whose lease is
// someone else's, or whose session is gone, gets ErrLeaseLost and writes nothing; the others'
// deltas are in their streams, announced after the event before them.
func TestEmitDeltas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		var ds []store.Delta
		for i := range 6 {
			turn := begunTurn(t, s, ctx)
			switch i {
			case 1:
				turn.Holder = "another attempt"
			case 3:
				if _, err := s.DeleteSession(ctx, turn.Token); err != nil {
					t.Fatal(err)
				}
			case 5:
				if _, err := s.Stop(ctx, turn.Token); err != nil {
					t.Fatal(err)
				}
			}
			ds = append(ds, store.Delta{Turn: turn, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "text " + strconv.Itoa(i)}})
		}
		s.EmitDeltas(ctx, ds)
		for i, d := range ds {
			if i == 1 || i == 3 {
				if !errors.Is(d.Err, store.ErrLeaseLost) || d.ID != "" {
					t.Fatalf("delta %d, lease not its own or session gone: %q %v, want ErrLeaseLost", i, d.ID, d.Err)
				}
				continue
			}
			if d.Err != nil || d.Stop != (i == 5) {
				t.Fatalf("delta %d: stop %v, %v (the user stopped turn 5 only)", i, d.Stop, d.Err)
			}
			evs, err := s.ReadEvents(ctx, d.Turn.Token, "", 10)
			if err != nil || len(evs) != 2 || evs[1].ID != d.ID || evs[1].Type != chat.FrameDelta || !strings.Contains(string(evs[1].Body), `"text `+strconv.Itoa(i)+`"`) {
				t.Fatalf("delta %d (%s): events %+v %v", i, d.ID, evs, err)
			}
			if last, _ := s.LastEventID(ctx, d.Turn.Token); last != d.ID {
				t.Fatalf("delta %d: last event %s, want %s", i, last, d.ID)
			}
		}
		if evs, _ := s.ReadEvents(ctx, ds[1].Turn.Token, "", 10); len(evs) != 1 {
			t.Fatalf("a delta was written without the lease: %+v", evs)
		}
	})
}

// On a single Redis, the deltas of many turns cost one script step (up to 64 a step), not one
// each. Counted on a Redis of this test's own (INFO commandstats).
func TestEmitDeltasInOneStep(t *testing.T) {
	node := redistest.NewNode(t, redistest.Options{Name: "deltas"})
	s, ctx := setup(t, storetest.Backend{Name: "single", URL: "redis://" + node.Addr() + "/0"}, store.Options{})
	var ds []store.Delta
	for range 101 {
		turn := begunTurn(t, s, ctx)
		ds = append(ds, store.Delta{Turn: turn, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "x"}})
	}
	s.EmitDeltas(ctx, ds[:1]) // the script loaded (the first EVALSHA of a script is refused)
	ds = ds[1:]
	before := commands(t, node, "evalsha", "eval")
	s.EmitDeltas(ctx, ds)
	steps := commands(t, node, "evalsha", "eval") - before
	for i, d := range ds {
		if d.Err != nil || d.ID == "" {
			t.Fatalf("delta %d: %q %v", i, d.ID, d.Err)
		}
	}
	if steps != 2 {
		t.Fatalf("100 deltas written in %d script steps, want 2 (64 a step)", steps)
	}
}

// RenewLeases renews the leases of many turns, each as RenewLease does: its lease extended, a
// stop the user asked for reported, a lease someone else holds (or a session gone) lost.
func TestRenewLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		var rs []store.Renewal
		for i := range 4 {
			turn := begunTurn(t, s, ctx)
			switch i {
			case 1:
				if _, err := s.Stop(ctx, turn.Token); err != nil {
					t.Fatal(err)
				}
			case 2:
				turn.Holder = "another attempt"
			case 3:
				if _, err := s.DeleteSession(ctx, turn.Token); err != nil {
					t.Fatal(err)
				}
			}
			rs = append(rs, store.Renewal{Turn: turn, Lease: time.Hour})
		}
		s.RenewLeases(ctx, rs)
		if rs[0].Err != nil || rs[0].Stop || rs[1].Err != nil || !rs[1].Stop ||
			!errors.Is(rs[2].Err, store.ErrLeaseLost) || !errors.Is(rs[3].Err, store.ErrLeaseLost) {
			t.Fatalf("renewed %+v", rs)
		}
		// The renewed lease now runs for an hour: another attempt finds the session busy for
		// about that long (begun with a lease of 5s).
		_, st, err := s.BeginTurn(ctx, rs[0].Turn.Token, "w2", 10, time.Second)
		if err != nil || st != store.TurnBusy {
			t.Fatalf("begin by another attempt: %v %v, want busy", st, err)
		}
	})
}

// A session whose worker yielded (YieldLease, then its request put back) keeps one request in
// its stream: a message sent while it waits queues none, the first turn begun takes the
// session as if free, and once the mark's time is up a message queues its request again.
func TestYieldedSessionQueuesNoRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		requests := func() int64 {
			n, err := s.Client().Do(ctx, s.Client().B().Xlen().Key(s.Keys().Requests(0)).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		turn := begunTurn(t, s, ctx) // its message queued the one request
		if err := s.YieldLease(ctx, turn.Token, turn.Holder, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(ctx, turn.Token, human("two"), lim); err != nil {
			t.Fatal(err)
		}
		if n := requests(); n != 1 {
			t.Fatalf("%d requests after a message to a queued session, want the 1 put back", n)
		}
		next, st, err := s.BeginTurn(ctx, turn.Token, "w2", 10, 5*time.Second)
		if err != nil || st != store.TurnReady || next.Seq != 1 {
			t.Fatalf("begin on a queued session: %v %v (seq %d), want the turn", st, err, next.Seq)
		}
		if err := s.YieldLease(ctx, turn.Token, "w2", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		storetest.Eventually(t, 5*time.Second, "a message queues a request once the mark is over", func() bool {
			if _, err := s.Send(ctx, turn.Token, human("again"), store.SendLimits{MaxPending: 1000, MessagesPerMinute: 1000}); err != nil {
				t.Fatal(err)
			}
			return requests() > 1
		})
	})
}

// A reply's deltas write no 'last' (prelude.lua), and every event is still announced after
// the one before it in the stream: deltas given the one before theirs or not, a message sent
// and an event written by someone else while the reply streams, the stored reply after its
// deltas, and the next turn's first delta after that reply. A hub delivers such a chain with
// no read of Redis (a notification that does not follow the last one makes it read).
func TestEventsAnnouncedInOrderWhileAReplyStreams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sub, _, notes, _ := runSubscriber(t, s)
		tok := subscribedSession(t, ctx, s, sub)
		var want []string // the IDs written, in order
		sent, err := s.Send(ctx, tok, human("one"), lim)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, sent.Offset)
		turn, _, err := s.BeginTurn(ctx, tok, "w", 10, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		delta := func(prev string) string {
			t.Helper()
			ds := []store.Delta{{Turn: turn, Prev: prev, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "x"}}}
			s.EmitDeltas(ctx, ds)
			if ds[0].Err != nil {
				t.Fatal(ds[0].Err)
			}
			turn.Deltas = append(turn.Deltas, ds[0].ID)
			want = append(want, ds[0].ID)
			return ds[0].ID
		}
		d := delta("")
		d = delta(d)
		if sent, err = s.Send(ctx, tok, human("two"), lim); err != nil {
			t.Fatal(err)
		}
		want = append(want, sent.Offset)
		d = delta(d) // follows the ack, not d
		delta("")    // not known: read from the stream
		id, err := s.Emit(ctx, tok, chat.Event{Type: chat.FrameError, Code: "test", Msg: "by ops"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
		reply, ev := botReply(turn, "x x x x")
		fin, err := s.FinishTurn(ctx, turn, reply, ev)
		if err != nil || !fin.More {
			t.Fatalf("finish: %+v %v", fin, err)
		}
		want = append(want, fin.Offset)
		if turn, _, err = s.BeginTurn(ctx, tok, "w", 10, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		turn.Deltas = nil
		delta("")
		prev := ""
		for i, id := range want {
			got := nextNotice(t, notes)
			if got.n.ID != id || got.n.Prev != prev {
				t.Fatalf("notification %d: id %s after %s, want %s after %s", i, got.n.ID, got.n.Prev, id, prev)
			}
			prev = id
		}
	})
}

// A delta of a reply in progress is three commands (HMGET, XADD, PUBLISH): it writes no
// field of the session hash but the first of its turn. Counted on a Redis of this test's own.
func TestDeltaWritesNoSessionField(t *testing.T) {
	node := redistest.NewNode(t, redistest.Options{Name: "delta-fields"})
	s, ctx := setup(t, storetest.Backend{Name: "single", URL: "redis://" + node.Addr() + "/0"}, store.Options{})
	turn := begunTurn(t, s, ctx)
	ds := []store.Delta{{Turn: turn, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "x"}}}
	s.EmitDeltas(ctx, ds)
	names := []string{"hset", "hmget", "xadd", "publish", "xrevrange"}
	before := make([]int, len(names))
	for i, n := range names {
		before[i] = commands(t, node, n)
	}
	const n = 20
	for range n {
		ds[0].Prev = ds[0].ID
		s.EmitDeltas(ctx, ds)
		if ds[0].Err != nil {
			t.Fatal(ds[0].Err)
		}
	}
	for i, name := range names {
		want := n
		if name == "hset" || name == "xrevrange" {
			want = 0
		}
		if got := commands(t, node, name) - before[i]; got != want {
			t.Errorf("%d deltas ran %s %d times, want %d", n, name, got, want)
		}
	}
}
