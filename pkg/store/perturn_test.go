package store_test

import (
	"strings"
	"testing"
	"time"

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
