package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/admin"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, st *store.Store, token, text, clientID string) store.Sent {
	t.Helper()
	msg := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: text, Timestamp: time.Now().UTC(), ClientID: clientID}
	sent, err := st.Send(ctxT(t), token, msg, store.SendLimits{MaxPending: 16, MessagesPerMinute: 60})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// both prints v as text and JSON, fails when either holds the token (views name sessions by
// their tag), and returns the text.
func both(t *testing.T, token string, v any, text func(*bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := text(&buf); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(v)
	if strings.Contains(buf.String(), token) || strings.Contains(string(js), token) {
		t.Errorf("the output holds the session token:\n%s\n%s", buf.String(), js)
	}
	return buf.String()
}

// TestSession: a session with two messages waiting, the first being answered, shows both, the
// lease holder and the acks, and names the session by its tag only.
func TestSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		st := storetest.Open(t, b, store.Options{Partitions: 2})
		sess, err := st.CreateSession(ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		first := send(t, st, sess.Token, "what is   the\nweather", "c-1")
		send(t, st, sess.Token, strings.Repeat("long ", 30), "")
		if _, _, err := st.BeginTurn(ctx, sess.Token, "host-1-0/abcd/7", 0, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		v, err := admin.Session(ctx, st, sess.Token, 5)
		if err != nil {
			t.Fatal(err)
		}
		text := both(t, sess.Token, v, func(b *bytes.Buffer) error { return v.WriteText(b) })
		if !v.Exists || v.Session != chat.TokenTag(sess.Token) || v.Name != "ops" {
			t.Fatalf("view %+v", v)
		}
		if v.Queued != 2 || v.Answered != 0 || v.Waiting != 2 || v.Started != 1 {
			t.Errorf("queued/answered/waiting/started %d/%d/%d/%d, want 2/0/2/1", v.Queued, v.Answered, v.Waiting, v.Started)
		}
		if v.Lease == nil || v.Lease.Consumer != "host-1-0" || v.Lease.ExpiresIn <= 0 {
			t.Errorf("lease %+v, want held by host-1-0", v.Lease)
		}
		if !strings.HasPrefix(v.State, "answering message 1") {
			t.Errorf("state %q", v.State)
		}
		if len(v.Pending) != 2 || v.Pending[0].ID != first.ID || v.Pending[0].Seq != 1 || v.Pending[1].Seq != 2 ||
			v.Pending[0].Preview != "what is the weather" || !strings.HasSuffix(v.Pending[1].Preview, "…") {
			t.Errorf("pending %+v", v.Pending)
		}
		if len(v.LastEvents) != 2 || v.LastEvents[0].Type != chat.FrameAck || !strings.Contains(v.LastEvents[1].Summary, first.ID) {
			t.Errorf("last events %+v", v.LastEvents)
		}
		for _, want := range []string{"answering message 1", "host-1-0", "what is the weather", "SEQ", "OFFSET"} {
			if !strings.Contains(text, want) {
				t.Errorf("text output lacks %q:\n%s", want, text)
			}
		}
		// A session its worker let go to the back of the line (it yielded its slot).
		if err := st.YieldLease(ctx, sess.Token, "host-1-0/abcd/7", time.Minute); err != nil {
			t.Fatal(err)
		}
		if q, err := admin.Session(ctx, st, sess.Token, 5); err != nil || q.Lease != nil || !strings.HasPrefix(q.State, "back in line") {
			t.Errorf("a yielded session: state %q, lease %+v, %v", q.State, q.Lease, err)
		}
		// Read-only: the TTL did not slide (it only goes down).
		before, _ := st.TTL(ctx, sess.Token)
		if _, err := admin.Session(ctx, st, sess.Token, 5); err != nil {
			t.Fatal(err)
		}
		if after, _ := st.TTL(ctx, sess.Token); after > before {
			t.Errorf("inspecting slid the TTL: %s -> %s", before, after)
		}

		gone, err := admin.Session(ctx, st, uuid.NewString(), 5)
		if err != nil || gone.Exists || !strings.HasPrefix(gone.State, "no such session") {
			t.Errorf("unknown token: %+v, %v", gone, err)
		}
	})
}

// TestQueue: lag, pending, the consumer holding a request and the age of what waits.
func TestQueue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		st := storetest.Open(t, b, store.Options{Partitions: 2})
		v, err := admin.Queue(ctx, st)
		if err != nil || len(v.Partitions) != 2 || v.Partitions[0].Group {
			t.Fatalf("before any worker: %+v, %v", v, err)
		}
		if err := st.EnsureGroups(ctx); err != nil {
			t.Fatal(err)
		}
		// Two sessions on partition 0, so one request is read and one waits.
		var tokens []string
		for len(tokens) < 2 {
			sess, err := st.CreateSession(ctx, "q")
			if err != nil {
				t.Fatal(err)
			}
			if store.Partition(sess.Token, 2) == 0 {
				tokens = append(tokens, sess.Token)
				send(t, st, sess.Token, "hi", "")
			}
		}
		got, err := st.ReadRequests(ctx, 0, "reader-0", 1, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("read %v, %v", got, err)
		}
		v, err = admin.Queue(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		p := v.Partitions[0]
		if !p.Group || p.Length != 2 || p.Lag != 1 || p.Pending != 1 || p.OldestWaitingAge < 0 || p.OldestPendingAge < 0 {
			t.Errorf("partition 0: %+v", p)
		}
		if len(p.Consumers) != 1 || p.Consumers[0].Name != "reader-0" || p.Consumers[0].Pending != 1 {
			t.Errorf("consumers %+v", p.Consumers)
		}
		if q := v.Partitions[1]; q.Length != 0 || q.Lag != 0 || q.Pending != 0 {
			t.Errorf("partition 1: %+v", q)
		}
		var buf bytes.Buffer
		if err := v.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "reader-0") {
			t.Errorf("text: %v\n%s", err, buf.String())
		}
	})
}

// fail answers turn seq of token with a model_error, as a worker does past its retries, and
// dead-letters its request.
func fail(t *testing.T, st *store.Store, token string) (store.Turn, string) {
	t.Helper()
	ctx := ctxT(t)
	turn, state, err := st.BeginTurn(ctx, token, "w-0/x/1", 0, 10*time.Second)
	if err != nil || state != store.TurnReady {
		t.Fatalf("begin: %v %v", state, err)
	}
	ev := chat.ErrorEvent(chat.CodeModelError, "The model could not answer", turn.Message.ID)
	if _, err := st.FinishTurn(ctx, turn, nil, ev); err != nil {
		t.Fatal(err)
	}
	id := deadLetter(t, st, token, turn.Seq, turn.Message.ID)
	return turn, id
}

func deadLetter(t *testing.T, st *store.Store, token string, seq int64, msgID string) string {
	t.Helper()
	id, err := st.AddDeadLetter(ctxT(t), store.DeadLetter{
		Partition: store.Partition(token, st.Options().Partitions), RequestID: "1-1",
		Fields:    map[string]string{chat.ReqFieldToken: token, chat.ReqFieldSeq: strconv.FormatInt(seq, 10)},
		MessageID: msgID, Error: "model_error: boom", Consumer: "w-0", Attempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReplayResend: a message answered with a model_error is sent again once, however often
// it is replayed; the dead letter lists and shows without the token, then leaves chat:dead.
func TestReplayResend(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		st := storetest.Open(t, b, store.Options{Partitions: 2})
		sess, _ := st.CreateSession(ctx, "r")
		send(t, st, sess.Token, "tell me a story", "c-9")
		turn, id := fail(t, st, sess.Token)

		list, err := admin.DeadList(ctx, st, "", 10)
		if err != nil || list.Total != 1 || len(list.DeadLetters) != 1 || list.DeadLetters[0].Session != chat.TokenTag(sess.Token) ||
			list.DeadLetters[0].Seq != 1 || list.DeadLetters[0].Attempts != 3 {
			t.Fatalf("list %+v, %v", list, err)
		}
		both(t, sess.Token, list, func(b *bytes.Buffer) error { return list.WriteText(b) })
		show, err := admin.DeadShow(ctx, st, id)
		if err != nil || show.Message != turn.Message.ID || show.Error != "model_error: boom" {
			t.Fatalf("show %+v, %v", show, err)
		}
		both(t, sess.Token, show, func(b *bytes.Buffer) error { return show.WriteText(b) })

		r, err := admin.Replay(ctx, st, id, true)
		if err != nil || r.Action != "resent" || r.Seq != 2 || r.Deleted {
			t.Fatalf("replay: %+v, %v", r, err)
		}
		r2, err := admin.Replay(ctx, st, id, false)
		if err != nil || r2.Action != "resent_before" || r2.Seq != 2 || r2.Message != r.Message || !r2.Deleted {
			t.Fatalf("second replay: %+v, %v", r2, err)
		}
		v, _ := admin.Session(ctx, st, sess.Token, 0)
		if v.Queued != 2 || len(v.Pending) != 1 || v.Pending[0].ID != r.Message || v.Pending[0].ClientID != "replay-"+id {
			t.Errorf("after replays: queued %d, pending %+v", v.Queued, v.Pending)
		}
		if next, _, err := st.BeginTurn(ctx, sess.Token, "w-1/y/1", 0, 10*time.Second); err != nil || next.Message.Msg != "tell me a story" {
			t.Errorf("the replayed turn: %+v, %v", next.Message, err)
		}
		if _, err := admin.Replay(ctx, st, id, false); !errors.Is(err, admin.ErrNoDeadLetter) {
			t.Errorf("replay of a replayed dead letter: %v, want ErrNoDeadLetter", err)
		}
	})
}

// TestReplayRequeue: a message still waiting gets its request queued again.
func TestReplayRequeue(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	st := storetest.Open(t, storetest.Single(t), store.Options{Partitions: 2})
	sess, _ := st.CreateSession(ctx, "q")
	sent := send(t, st, sess.Token, "hello", "")
	id := deadLetter(t, st, sess.Token, sent.Seq, "")
	before, err := admin.Queue(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	r, err := admin.Replay(ctx, st, id, false)
	if err != nil || r.Action != "requeued" || r.Seq != 1 || r.Message != sent.ID || !r.Deleted {
		t.Fatalf("replay: %+v, %v", r, err)
	}
	after, _ := admin.Queue(ctx, st)
	p := store.Partition(sess.Token, 2)
	if after.Partitions[p].Length != before.Partitions[p].Length+1 {
		t.Errorf("partition %d holds %d requests, want %d", p, after.Partitions[p].Length, before.Partitions[p].Length+1)
	}
	if after.DeadLetters != 0 {
		t.Errorf("%d dead letters left", after.DeadLetters)
	}
}

// TestReplayRefused: an answered message, a gone session and an entry without a session are
// refused, and their dead letters kept.
func TestReplayRefused(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	st := storetest.Open(t, storetest.Single(t), store.Options{Partitions: 2})
	sess, _ := st.CreateSession(ctx, "a")
	send(t, st, sess.Token, "hi", "")
	turn, _, _ := st.BeginTurn(ctx, sess.Token, "w/x/1", 0, 10*time.Second)
	reply := &chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "hello", Timestamp: time.Now(), ReplyTo: turn.Message.ID}
	if _, err := st.FinishTurn(ctx, turn, reply, chat.MessageEvent(*reply)); err != nil {
		t.Fatal(err)
	}
	answered := deadLetter(t, st, sess.Token, 1, turn.Message.ID)
	if _, err := admin.Replay(ctx, st, answered, false); !errors.Is(err, admin.ErrAlreadyAnswered) {
		t.Errorf("answered: %v", err)
	}
	goneTok := uuid.NewString()
	gone := deadLetter(t, st, goneTok, 1, "x")
	if _, err := admin.Replay(ctx, st, gone, false); !errors.Is(err, admin.ErrNotReplayable) {
		t.Errorf("gone session: %v", err)
	}
	malformed, err := st.AddDeadLetter(ctx, store.DeadLetter{Fields: map[string]string{"junk": "1"}, Error: "malformed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Replay(ctx, st, malformed, false); !errors.Is(err, admin.ErrNotReplayable) {
		t.Errorf("malformed: %v", err)
	}
	if list, _ := admin.DeadList(ctx, st, "", 10); list.Total != 3 {
		t.Errorf("%d dead letters kept, want 3", list.Total)
	}
}

// TestPurge: named, all, and only those old enough.
func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	st := storetest.Open(t, storetest.Single(t), store.Options{Partitions: 2})
	var ids []string
	for range 3 {
		ids = append(ids, deadLetter(t, st, uuid.NewString(), 1, "m"))
	}
	if plan, err := admin.PlanPurge(ctx, st, nil, time.Hour); err != nil || len(plan.IDs) != 0 {
		t.Errorf("older than 1h: %+v, %v", plan, err)
	}
	plan, err := admin.PlanPurge(ctx, st, ids[:1], 0)
	if err != nil || len(plan.IDs) != 1 {
		t.Fatalf("one: %+v, %v", plan, err)
	}
	if done, err := admin.Purge(ctx, st, plan); err != nil || done.Deleted != 1 {
		t.Errorf("purge one: %+v, %v", done, err)
	}
	if _, err := admin.PlanPurge(ctx, st, ids[:1], 0); !errors.Is(err, admin.ErrNoDeadLetter) {
		t.Errorf("purged ID: %v", err)
	}
	plan, _ = admin.PlanPurge(ctx, st, nil, 0)
	if done, err := admin.Purge(ctx, st, plan); err != nil || done.Deleted != 2 {
		t.Errorf("purge all: %+v, %v", done, err)
	}
}
