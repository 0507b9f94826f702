package e2e

import (
	"context"
	"encoding/json"
	"testing"

	"chatbot/pkg/chat"

	"github.com/coder/websocket"
)

// checkRegenerate: on real processes, a regenerate sent through the first serve is answered
// by a work process, and a socket on the last serve gets its ack and the new reply, which
// replaces the old one in the history.
func checkRegenerate(ctx context.Context, t *testing.T, d *deployment) {
	t.Helper()
	d.mu.Lock()
	first, last := d.serves[0].URL(), d.serves[len(d.serves)-1].URL()
	d.mu.Unlock()
	token, err := createSession(ctx, first, "regen")
	if err != nil {
		t.Fatal(err)
	}
	dial := func(base string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws"+base[len("http"):]+"/chat?stream=1&token="+token, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	next := func(c *websocket.Conn, typ string) chat.Event {
		t.Helper()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var ev chat.Event
			if json.Unmarshal(data, &ev) == nil && ev.Type == typ {
				return ev
			}
		}
	}
	a, z := dial(first), dial(last)
	a.Write(ctx, websocket.MessageText, []byte(`{"type":"message","msg":"again","client_id":"m"}`))
	old := next(z, chat.FrameMessage)
	a.Write(ctx, websocket.MessageText, []byte(`{"type":"regenerate","client_id":"r"}`))
	if ack := next(z, chat.FrameAck); ack.ClientID != "r" || ack.Replaces != old.ID {
		t.Fatalf("regenerate ack on the other serve: %+v", ack)
	}
	reply := next(z, chat.FrameMessage)
	if reply.Replaces != old.ID || reply.ReplyTo != old.ReplyTo || reply.Msg != old.Msg || reply.ID == old.ID {
		t.Fatalf("regenerated reply %+v, old %+v", reply, old)
	}
	h, err := history(ctx, last, token)
	if err != nil || len(h) != 2 || h[1].ID != reply.ID {
		t.Fatalf("history %+v %v: want the new reply in the old one's place", h, err)
	}
}
