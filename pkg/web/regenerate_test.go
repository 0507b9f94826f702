package web_test

import (
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/google/uuid"
)

// Regenerate over the socket, across two serve hosts: one socket asks, both see the ack (which
// names the message answered again and the reply replaced), the new reply streamed and its
// message frame (which names the reply replaced); another regenerate meanwhile is refused with
// cannot_regenerate, as one with nothing to regenerate; the history keeps only the new reply.
func TestRegenerate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		other := e.second(web.Options{})
		sess := e.session()
		hold := make(chan struct{})
		e.worker(sess.Token, func(turn store.Turn) {
			if turn.Regen != nil {
				<-hold
			}
		})
		a := e.dial(tokenQuery(sess, "stream=1"))
		z := dial(t, other, tokenQuery(sess, "stream=1"))

		a.sendJSON(map[string]string{"type": "regenerate", "client_id": "r-0"})
		if f := a.next(); f.Type != chat.FrameError || f.Code != chat.CodeCannotRegenerate || f.ClientID != "r-0" || f.Offset != "" {
			t.Fatalf("regenerate with no reply: %+v", f.raw)
		}
		a.sendJSON(map[string]string{"type": "message", "msg": "two", "client_id": "m-1"})
		human := a.nextOf(chat.FrameAck).ID
		old := a.nextOf(chat.FrameMessage)
		if z.nextOf(chat.FrameMessage).ID != old.ID || old.Msg != "echo: two" {
			t.Fatalf("first reply %+v", old.raw)
		}

		a.sendJSON(map[string]string{"type": "regenerate", "client_id": "r-1"})
		for _, c := range []*client{a, z} {
			ack := c.nextOf(chat.FrameAck)
			if ack.ClientID != "r-1" || ack.ReplyTo != human || ack.Replaces != old.ID || ack.Offset == "" {
				t.Fatalf("regenerate ack %+v", ack.raw)
			}
		}
		a.sendJSON(map[string]string{"type": "regenerate", "client_id": "r-2"})
		if f := a.nextOf(chat.FrameError); f.Code != chat.CodeCannotRegenerate || f.ClientID != "r-2" {
			t.Fatalf("regenerate while one is pending: %+v", f.raw)
		}
		close(hold)
		for _, c := range []*client{a, z} {
			text := ""
			for {
				f := c.next()
				if f.Type == chat.FrameDelta {
					if f.ReplyTo != human {
						t.Fatalf("delta %+v", f.raw)
					}
					text += f.Text
					continue
				}
				if f.Type != chat.FrameMessage || f.ReplyTo != human || f.Replaces != old.ID || f.Msg != "echo again: two" || text != f.Msg {
					t.Fatalf("new reply %+v after deltas %q", f.raw, text)
				}
				break
			}
		}
		got, _ := e.st.GetSession(e.ctx, sess.Token, false)
		if len(got.Messages) != 2 || got.Messages[0].ID != human || got.Messages[1].Msg != "echo again: two" || got.Messages[1].ReplyTo != human {
			t.Fatalf("history %+v", got.Messages)
		}
		// A resend of r-1 is a duplicate: nothing new; r-3 is the next.
		a.sendJSON(map[string]string{"type": "regenerate", "client_id": "r-1"})
		a.sendJSON(map[string]string{"type": "regenerate", "client_id": "r-3"})
		for {
			f := a.next()
			if f.Type == chat.FrameError || (f.Type == chat.FrameAck && f.ClientID != "r-3") {
				t.Fatalf("after a resend: %+v", f.raw)
			}
			if f.Type == chat.FrameMessage {
				if f.Replaces != got.Messages[1].ID {
					t.Fatalf("third reply %+v", f.raw)
				}
				break
			}
		}
	})
}

// Stop works on a regeneration as on any reply: the stopped reply takes the old one's place.
func TestStopRegeneration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send("one")
		c.nextOf(chat.FrameAck)
		// Answer it here, so that no worker runs until the stop is asked.
		turn, _, err := e.st.BeginTurn(e.ctx, sess.Token, "first", 10, 10*time.Second)
		if err != nil || turn.Seq != 1 {
			t.Fatalf("begin: %+v %v", turn, err)
		}
		old := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "first reply", Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID}
		if _, err := e.st.FinishTurn(e.ctx, turn, &old, chat.MessageEvent(old)); err != nil {
			t.Fatal(err)
		}
		c.nextOf(chat.FrameMessage)
		c.sendJSON(map[string]string{"type": "regenerate"})
		c.nextOf(chat.FrameAck)
		c.sendJSON(map[string]string{"type": "stop"})
		storetest.Eventually(t, wait, "the stop request", func() bool {
			v, _ := e.st.Client().Do(e.ctx, e.st.Client().B().Hget().Key(e.st.Keys().Session(sess.Token)).Field("stop").Build()).ToString()
			return v == "2"
		})
		e.worker(sess.Token, nil)
		f := c.nextOf(chat.FrameMessage)
		if !f.Stopped || f.Replaces != old.ID || f.ReplyTo != turn.Message.ID {
			t.Fatalf("reply %+v, want stopped, replacing %s", f.raw, old.ID)
		}
		got, _ := e.st.GetSession(e.ctx, sess.Token, false)
		if len(got.Messages) != 2 || got.Messages[1].ID != f.ID || !got.Messages[1].Stopped {
			t.Fatalf("history %+v", got.Messages)
		}
	})
}
