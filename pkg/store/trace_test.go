package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// requestFields is every request entry of partition 0, oldest first.
func requestFields(t *testing.T, ctx context.Context, s *store.Store) []map[string]string {
	t.Helper()
	rdb := s.Client()
	res, err := rdb.Do(ctx, rdb.B().Xrange().Key(s.Keys().Requests(0)).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, e := range res {
		out = append(out, e.FieldValues)
	}
	return out
}

// A message's traceparent goes into its request entry (the script's XADD on a single node,
// Go's on a cluster) and stays with the pending message, also when a lease holder answers it
// (no request entry then); the history keeps the message without it. A message without one
// writes no traceparent field at all.
func TestSendCarriesTraceparent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 1})
		sess, _ := s.CreateSession(ctx, "a")
		plain := human("untraced")
		if _, err := s.Send(ctx, sess.Token, plain, lim); err != nil {
			t.Fatal(err)
		}
		traced := human("traced")
		traced.Traceparent = traceparent
		if _, err := s.Send(ctx, sess.Token, traced, lim); err != nil {
			t.Fatal(err)
		}
		reqs := requestFields(t, ctx, s)
		if len(reqs) != 2 {
			t.Fatalf("%d request entries, want 2", len(reqs))
		}
		if _, ok := reqs[0][chat.ReqFieldTraceparent]; ok {
			t.Errorf("the untraced message's request has a traceparent: %v", reqs[0])
		}
		if reqs[1][chat.ReqFieldTraceparent] != traceparent {
			t.Errorf("the traced message's request %v, want traceparent %s", reqs[1], traceparent)
		}
		if r, err := chat.DecodeRequest(reqs[1]); err != nil || r.Traceparent != traceparent {
			t.Errorf("decoded %+v %v", r, err)
		}

		turn, _, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil || turn.Message.Traceparent != "" {
			t.Fatalf("first turn %+v %v, want the untraced message", turn.Message, err)
		}
		// Sent while w1 holds the lease: no request, the trace goes with the message.
		held := human("while held")
		held.Traceparent = strings.Replace(traceparent, "00f067aa0ba902b7", "00f067aa0ba902b8", 1)
		if _, err := s.Send(ctx, sess.Token, held, lim); err != nil {
			t.Fatal(err)
		}
		if n := len(requestFields(t, ctx, s)); n != 2 {
			t.Fatalf("%d request entries after a send under the lease, want still 2", n)
		}
		for _, want := range []chat.Message{plain, traced, held} {
			if turn.Message.ID != want.ID || turn.Message.Traceparent != want.Traceparent {
				t.Fatalf("turn %d: message %+v, want %s with traceparent %q", turn.Seq, turn.Message, want.Msg, want.Traceparent)
			}
			reply, ev := botReply(turn, "echo")
			fin, err := s.FinishTurn(ctx, turn, reply, ev)
			if err != nil {
				t.Fatal(err)
			}
			if !fin.More {
				break
			}
			if turn, _, err = s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		rdb := s.Client()
		hist, err := rdb.Do(ctx, rdb.B().Lrange().Key(s.Keys().Messages(sess.Token)).Start(0).Stop(-1).Build()).AsStrSlice()
		if err != nil || len(hist) != 6 {
			t.Fatalf("history %d entries, %v", len(hist), err)
		}
		for _, h := range hist {
			if strings.Contains(h, "traceparent") {
				t.Errorf("the history keeps a traceparent: %s", h)
			}
		}
	})
}

// Tracing adds no Redis command to a turn: the traceparent rides in the arguments of the
// scripts a turn runs anyway. Counted on a Redis of this test's own (INFO commandstats,
// commands inside scripts included).
func TestTraceparentCostsNoCommand(t *testing.T) {
	node := redistest.NewNode(t, redistest.Options{Name: "commands"})
	s, ctx := setup(t, storetest.Backend{Name: "single", URL: "redis://" + node.Addr() + "/0"}, store.Options{Partitions: 1})
	if err := s.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	turn := func(tp string) int {
		sess, err := s.CreateSession(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		before := commands(t, node)
		m := human("hello")
		m.Traceparent = tp
		if _, err := s.Send(ctx, sess.Token, m, lim); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadRequests(ctx, 0, "c", 10, time.Millisecond)
		if err != nil || len(got) != 1 {
			t.Fatalf("read %v %v", got, err)
		}
		tr, _, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tr.Traceparent = tp
		if _, err := s.EmitDelta(ctx, tr, chat.Event{Type: chat.FrameDelta, Text: "e", Traceparent: tp}); err != nil {
			t.Fatal(err)
		}
		reply, ev := botReply(tr, "echo")
		ev.Traceparent = tp
		if _, err := s.FinishTurnAck(ctx, tr, reply, ev, store.RequestRef{ID: got[0].ID, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		return commands(t, node) - before
	}
	turn("") // loads the scripts
	off, on := turn(""), turn(traceparent)
	if on != off || off == 0 {
		t.Errorf("a turn costs %d Redis commands traced, %d untraced: want the same", on, off)
	}
	t.Logf("Redis commands per turn (send, read, begin, a delta, finish; scripts' included): %d untraced, %d traced", off, on)
}

// commands is the number of commands node has run (INFO commandstats), the INFO calls of
// this count excluded; with names, of those commands only.
func commands(t *testing.T, node *redistest.Node, names ...string) int {
	t.Helper()
	n, err := node.Calls(context.Background(), names...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
